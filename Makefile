# The two commands of the README, and the few others a developer needs.
.PHONY: up down test asyncapi bench

up:            ## start MongoDB (from the wheel), the three services; uses RabbitMQ at AMQP_URL
	@deploy/local/up.sh

down:          ## stop what `make up` started
	@deploy/local/down.sh

test:          ## the whole suite: lint, types, contract drift, unit, integration, e2e, faults
	@deploy/local/test.sh

asyncapi:      ## regenerate the committed AsyncAPI documents from the code
	@deploy/local/asyncapi.sh

bench:         ## messaging throughput against the raw aio-pika / PyMongo baselines
	@deploy/local/bench.sh
