"""Settings from environment variables: what every service needs. A service that
needs more subclasses `ServiceSettings` in its own `settings.py` (notifications,
materials)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar
from urllib.parse import unquote, urlsplit

from limits import parse_many
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.identity_rules import (
    DEVELOPMENT_JWT_SECRET,
    jwks_problems,
    normalised_environment,
    production_problems,
)
from shared.messaging.topology import DEFAULT_HISTORY_MAX_AGE, DEFAULT_HISTORY_MAX_BYTES
from shared.reference.areas import DEFAULT_FILE as DEFAULT_AREAS_FILE
from shared.reference.work_rules import DEFAULT_FILE as DEFAULT_WORK_RULES_FILE
from shared.validation import describe_problems


class ServiceSettings(BaseSettings):
    """What a service needs to run; each field is an environment variable.

    `AMQP_URL` and `MONGODB_URL` keep their conventional names; everything else is
    prefixed with `BERDAYA_`.
    """

    # hide_input_in_errors: a refused configuration is reported without echoing its
    # values, secrets and URLs with passwords among them.
    model_config = SettingsConfigDict(
        env_prefix="BERDAYA_",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    service_name: str = "berdaya"
    amqp_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/",
        validation_alias=AliasChoices("AMQP_URL", "BERDAYA_AMQP_URL"),
    )
    mongodb_url: str = Field(
        default="mongodb://127.0.0.1:27017/?replicaSet=rs0&directConnection=true",
        validation_alias=AliasChoices("MONGODB_URL", "BERDAYA_MONGODB_URL"),
    )
    http_host: str = Field(
        default="127.0.0.1", validation_alias=AliasChoices("HTTP_HOST", "BERDAYA_HTTP_HOST")
    )
    http_port: int = Field(
        default=8000, validation_alias=AliasChoices("HTTP_PORT", "BERDAYA_HTTP_PORT")
    )
    # Prefix of every exchange, queue and database name: lets test runs and
    # several installations share one broker and one mongod without meeting.
    namespace: str = Field(default="berdaya", pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    log_level: str = "INFO"
    log_json: bool = True
    # One log line per HTTP request (method, route, status, duration; shared/web/http_metrics.py).
    access_log: bool = False
    # Traces (shared/tracing.py): off unless an exporter is named, e.g. `otlp` (OTLP over
    # HTTP, configured by the standard OTEL_EXPORTER_OTLP_* variables) or `console`.
    otel_traces_exporter: str = Field(
        default="none", validation_alias=AliasChoices("OTEL_TRACES_EXPORTER")
    )

    # A broker that stops answering (a partition, a dead peer, a DROP rule) is noticed
    # within about three heartbeats, not the 60 s interval RabbitMQ proposes (three
    # minutes); connecting gives up after the timeout and is retried.
    amqp_heartbeat_seconds: int = Field(default=10, ge=2, le=600)
    amqp_connect_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    prefetch_count: int = Field(default=16, ge=1, le=1000)
    # A handler that keeps failing is tried this many times in all, then dead-lettered
    # with the error as the reason. Between attempts the event waits in a retry queue
    # for the next of `retry_delays_seconds` (the last one repeats), e.g. 10 s, 1 min,
    # 5 min; JSON in the environment: BERDAYA_RETRY_DELAYS_SECONDS='[10, 60, 300]'.
    # MongoDB or RabbitMQ being away is no failure of the handler: consumption pauses
    # and the event waits, without spending an attempt.
    max_delivery_attempts: int = Field(default=5, ge=1, le=50)
    retry_delays_seconds: tuple[Annotated[float, Field(gt=0, le=86_400)], ...] = Field(
        default=(10.0, 60.0, 300.0), min_length=1, max_length=10
    )
    max_message_bytes: int = Field(default=256 * 1024, ge=1024)
    # Queue policies (delivery limit, dead-lettering, overflow): `apply` sets them
    # through the management API at start (a warning if it cannot, then it starts
    # anyway); `definitions` leaves them to the broker's definitions (see
    # shared/messaging/policies.py). The API's address defaults to the AMQP host on
    # port 15672, with the AMQP URL's credentials and vhost.
    broker_policies: Literal["apply", "definitions"] = "apply"
    rabbitmq_management_url: str = ""
    # Who makes the exchanges, queues and bindings: `declare`, the service itself at
    # start (development, with a user allowed to configure); `verify`, the broker set-up
    # step did (`python -m services.broker_setup`, its own user) and the service only
    # checks they exist — its user needs no configure permission (production; see
    # deploy/broker/definitions.py for the users and what each may do).
    broker_topology: Literal["declare", "verify"] = "declare"
    # The event history stream's retention (the set-up step sets it as a policy; see
    # DEFAULT_HISTORY_MAX_AGE in shared/messaging/topology.py for why these defaults):
    # RabbitMQ's age notation, a number and one of Y M D h m s; bytes.
    history_max_age: str = Field(default=DEFAULT_HISTORY_MAX_AGE, pattern=r"^[1-9][0-9]*[YMDhms]$")
    history_max_bytes: int = Field(default=DEFAULT_HISTORY_MAX_BYTES, ge=1_000_000)

    # Bearer tokens (shared/web/auth.py). Production: tokens of the city's OpenID
    # Connect provider, verified with its key set (JWKS, the key picked by `kid`, RS256
    # or ES256), audience and issuer. Development: HS256 tokens signed with
    # `jwt_secret` (`python -m shared.web.auth`); with a JWKS URL they are refused
    # unless `jwt_allow_hs256`. BERDAYA_ENVIRONMENT=production (any case) refuses to
    # start without a JWKS URL and audience, with HS256 allowed, or with a weak or
    # development secret (shared/identity_rules.py).
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    jwt_issuer: str = "berdaya"
    jwt_jwks_url: str = ""
    jwt_audience: str = ""
    jwt_algorithms: tuple[Literal["RS256", "ES256"], ...] = Field(
        default=("RS256", "ES256"), min_length=1
    )
    # exp - iat may not exceed this (iat is required); the clock leeway applies to
    # exp, iat and nbf.
    jwt_max_lifetime_seconds: int = Field(default=12 * 3600, ge=60, le=7 * 86_400)
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # The key set is cached this long; a token whose `kid` it lacks fetches it again
    # (a rotated key works without a restart), at most once per `jwt_jwks_refetch_seconds`.
    jwt_jwks_cache_seconds: float = Field(default=300, gt=0)
    jwt_jwks_refetch_seconds: float = Field(default=30, ge=0)
    jwt_jwks_timeout_seconds: float = Field(default=5, gt=0, le=60)
    jwt_allow_hs256: bool = False
    environment: str = "development"

    # A stop (SIGTERM) answers the HTTP requests in flight, lets the events in flight
    # commit and ack, publishes what the outbox holds, and closes; past this bound (or
    # at a second SIGTERM) the process exits at once. Keep it under the orchestrator's
    # grace period (compose `stop_grace_period`, Kubernetes `terminationGracePeriodSeconds`).
    shutdown_seconds: float = Field(default=25.0, ge=5)

    # A transaction retried (write conflicts, a primary stepping down) gives up after
    # this long in all, not PyMongo's two minutes: an HTTP command then answers 503
    # (send it again, same Idempotency-Key), an event goes back to its queue.
    transaction_time_limit_seconds: float = Field(default=10.0, gt=0, le=120)

    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    outbox_batch_size: int = Field(default=100, ge=1)
    # The rows a relay publishes are leased to it for `lease` seconds, renewed every
    # `heartbeat` while it waits for the broker's confirms (shared/messaging/relay.py).
    # A relay killed stops renewing: another replica publishes its rows once the lease
    # lapsed, within lease + poll (2.5 s), instead of waiting out one long lease. One
    # alive but slow keeps them: four beats per lease, so a beat or two lost to a busy
    # moment costs nothing. Only a relay stalled past the whole lease (a frozen machine,
    # MongoDB out of its reach) can lose rows it then publishes anyway: a second copy
    # with the same message_id, dropped by the consumers' inbox. The replicas' clocks
    # must agree to well within the lease (NTP).
    outbox_lease_seconds: float = Field(default=2.0, gt=0)
    outbox_heartbeat_seconds: float = Field(default=0.5, gt=0)

    # Kota Jambi's areas (kecamatan → kelurahan → number of RTs); default: the
    # packaged shared/reference/areas.toml.
    areas_file: Path = Field(default=DEFAULT_AREAS_FILE)
    # What each work type may be built of (concrete grades), the one rule the proposals
    # and materials services share; default: the packaged shared/reference/work_rules.toml.
    work_rules_file: Path = Field(default=DEFAULT_WORK_RULES_FILE)

    # The HTTP edge (shared/web): a body larger than this is refused with 413 before it
    # is read in full. The largest legitimate body (a proposal with a 4000-character
    # problem, a report with 20 photo references) is under 64 KiB in UTF-8; JSON escapes
    # can make each character up to 12 bytes, hence the margin.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Requests allowed per caller (the token's `sub` when it verifies, else the client's
    # IP), `limits` notation ("60/minute", "10/second;500/hour"): writes (POST, PUT,
    # PATCH, DELETE) and reads of routes that need no token. Counted in memory per
    # replica. Off (false) for benchmarks and tests.
    rate_limits_enabled: bool = True
    rate_limit_writes: str = "60/minute"
    rate_limit_public: str = "120/minute"
    # Proxies (addresses or networks, JSON list) whose X-Forwarded-For names the client;
    # from anyone else the header is ignored and the socket's address is the client.
    trusted_proxies: tuple[str, ...] = ()

    @classmethod
    def extending(cls, settings: ServiceSettings) -> Self:
        """`settings` as this kind (a service's own, with its fields): the fields they lack
        come from the environment (or their defaults)."""
        if isinstance(settings, cls):
            return settings
        return cls(**settings.model_dump())

    @field_validator("rate_limit_writes", "rate_limit_public")
    @classmethod
    def _is_a_rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as error:
            raise ValueError(f"not a rate limit like '60/minute': {error}") from error
        return value

    @field_validator("environment")
    @classmethod
    def _known_environment(cls, value: str) -> str:
        return normalised_environment(value)

    @model_validator(mode="after")
    def _trusted_identities(self) -> ServiceSettings:
        # Here, so that every entrypoint building settings to serve refuses alike.
        problems = jwks_problems(self.jwt_jwks_url, self.jwt_audience, production=self.production)
        if self.production:
            problems += production_problems(
                jwks_url=self.jwt_jwks_url,
                allow_hs256=self.jwt_allow_hs256,
                secret=self.jwt_secret.get_secret_value(),
                algorithms=self.jwt_algorithms,
            )
        if problems:
            raise ValueError(f"refusing a {self.environment} configuration: {'; '.join(problems)}")
        return self

    @model_validator(mode="after")
    def _outbox_lease_outlives_beats(self) -> ServiceSettings:
        if self.outbox_heartbeat_seconds * 2 > self.outbox_lease_seconds:
            raise ValueError(
                "BERDAYA_OUTBOX_HEARTBEAT_SECONDS must be at most half of "
                "BERDAYA_OUTBOX_LEASE_SECONDS: a relay renews its lease several times "
                "before it lapses"
            )
        return self

    @model_validator(mode="after")
    def _own_broker_user(self) -> ServiceSettings:
        # guest is every service at once: the broker could not tell who published
        # (shared/messaging/trust.py), and it administers the whole broker.
        if self.production and self.amqp_user == "guest":
            raise ValueError(
                "refusing a production configuration: AMQP_URL connects as guest; give "
                "each service its own broker user (deploy/broker/definitions.py)"
            )
        return self

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def http_drain_seconds(self) -> float:
        """Of the stop bound: a fifth for HTTP requests in flight."""
        return self.shutdown_seconds / 5

    @property
    def consumer_drain_seconds(self) -> float:
        """Of the stop bound: two fifths for events (and sends) in flight; the rest is
        for the outbox and closing."""
        return self.shutdown_seconds * 2 / 5

    @property
    def worker_stop_seconds(self) -> float:
        """The loops beside the consumers (dispatcher, scheduler) stop alongside them,
        within the same two fifths: a cycle in flight finishes, one still running
        then is cut off."""
        return self.consumer_drain_seconds

    @property
    def outbox_drain_seconds(self) -> float:
        """Of the stop bound: a fifth for the outbox relay, after the consumers (its
        cycle in flight, then publishing what is pending); the rest is for closing."""
        return self.shutdown_seconds / 5

    @property
    def amqp_user(self) -> str:
        """The broker user this service connects as: the AMQP `user_id` it publishes
        with, which the broker checks and consumers trust."""
        return unquote(urlsplit(self.amqp_url).username or "guest")

    @property
    def database_name(self) -> str:
        return database_name(self.namespace, self.service_name)


def database_name(namespace: str, service: str) -> str:
    """The one database `service` owns in `namespace` (its MongoDB user may use no other)."""
    return f"{namespace}_{service}".replace("-", "_")


Settings = TypeVar("Settings", bound=ServiceSettings)


def settings_or_refusal(kind: type[Settings], **given: Any) -> Settings:
    """`kind` from the environment (and `given`), for a process's entrypoint: settings
    production refuses (shared/identity_rules.py) end the process with one sentence,
    `refusing to start: …`, naming what to set — not a traceback."""
    try:
        return kind(**given)
    except ValidationError as error:
        raise SystemExit(f"refusing to start: {describe_problems(error)}") from None
