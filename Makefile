# The two commands of the README, and the few others a developer needs.
.PHONY: up down test asyncapi bench chaos lock engine image

up:            ## start MongoDB (from the wheel), the three services; uses RabbitMQ at AMQP_URL
	@deploy/local/up.sh

down:          ## stop what `make up` started
	@deploy/local/down.sh

test:          ## the whole suite: lint, types, hadolint, contract drift, unit, integration, e2e, faults, containers
	@deploy/local/test.sh

asyncapi:      ## regenerate the committed AsyncAPI documents from the code
	@deploy/local/asyncapi.sh

bench:         ## end to end (approve → reserved at fixed rates), each consumer, the relay, HTTP, backlog and memory, each beside its raw baseline
	@deploy/local/bench.sh

# CHAOS_ARGS passes options on, e.g. make chaos CHAOS_ARGS="--flows 50 --no-kills"
chaos:         ## complete flows through two replicas of each service under SIGKILLs: tails, lost, doubled
	@deploy/local/chaos.sh $(CHAOS_ARGS)

# The system in containers (deploy/compose.yaml). STANDINS names the locally built
# stand-in images (this machine cannot pull); `make compose-up STANDINS=` uses the
# official ones. MATERIALS_REPLICAS=3 runs three materials replicas.
STANDINS ?= deploy/standins.env
COMPOSE = .venv/bin/podman-compose $(if $(STANDINS),--env-file $(STANDINS)) -f deploy/compose.yaml
# podman-compose only knows the replicas `scale` names: count the ones that exist
REPLICAS = $$(podman ps -aq --filter label=io.podman.compose.project=berdaya --filter label=com.docker.compose.service=materials | wc -l)
.PHONY: compose-up compose-down

compose-up:    ## RabbitMQ, a MongoDB per service, the three services and an SMTP catcher, in containers
	@test -x .venv/bin/podman-compose || .venv/bin/pip install -q podman-compose==1.6.0
	MATERIALS_REPLICAS=$(MATERIALS_REPLICAS) $(COMPOSE) up -d
	@MATERIALS_REPLICAS=$(REPLICAS) $(COMPOSE) ps --format '{{.Names}}\t{{.Status}}\t{{.Ports}}' 2>/dev/null

compose-down:  ## stop and remove those containers; the data volumes stay (VOLUMES=1 drops them)
	MATERIALS_REPLICAS=$(REPLICAS) $(COMPOSE) down $(if $(VOLUMES),-v)

lock:          ## recompile requirements/*.txt (hashes) from pyproject.toml
	@deploy/local/lock.sh

engine:        ## install and configure podman (runc, netavark) and build the stand-in images
	@deploy/engine/setup.sh

image:         ## build the service image localhost/berdaya:dev
	@deploy/image/build.sh
