"""Settings from environment variables: what every service needs. A service that
needs more subclasses `ServiceSettings` in its own `settings.py` (notifications,
materials)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.reference.areas import DEFAULT_FILE as DEFAULT_AREAS_FILE


class ServiceSettings(BaseSettings):
    """What a service needs to run; each field is an environment variable.

    `AMQP_URL` and `MONGODB_URL` keep their conventional names; everything else is
    prefixed with `BERDAYA_`.
    """

    model_config = SettingsConfigDict(
        env_prefix="BERDAYA_", extra="ignore", frozen=True, populate_by_name=True
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

    # HS256 secret shared by the services that verify bearer tokens; the default is
    # for development only and the services refuse it when BERDAYA_ENVIRONMENT=production.
    jwt_secret: SecretStr = SecretStr("berdaya-development-secret-change-me-0123456789")
    jwt_issuer: str = "berdaya"
    environment: str = "development"

    # A stop (SIGTERM) answers the HTTP requests in flight, lets the events in flight
    # commit and ack, publishes what the outbox holds, and closes; past this bound (or
    # at a second SIGTERM) the process exits at once. Keep it under the orchestrator's
    # grace period (compose `stop_grace_period`, Kubernetes `terminationGracePeriodSeconds`).
    shutdown_seconds: float = Field(default=25.0, ge=5)

    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    outbox_batch_size: int = Field(default=100, ge=1)
    outbox_lease_seconds: float = Field(default=30.0, gt=0)

    # Kota Jambi's areas (kecamatan → kelurahan → number of RTs); default: the
    # packaged shared/reference/areas.toml.
    areas_file: Path = Field(default=DEFAULT_AREAS_FILE)

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
    def database_name(self) -> str:
        return f"{self.namespace}_{self.service_name}".replace("-", "_")
