"""Settings from environment variables, one model for every service."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    # A handler that keeps failing is retried this many times, then dead-lettered
    # with the error as the reason.
    max_delivery_attempts: int = Field(default=5, ge=1, le=50)
    max_message_bytes: int = Field(default=256 * 1024, ge=1024)

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

    # Notification channels (the notifications service). Unconfigured means nothing is
    # sent on that channel: its deliveries stay pending, with the reason in their log.
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "Berdaya Kota Jambi <berdaya@localhost>"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    # Any HTTP SMS/WhatsApp gateway: the JSON body is the template with {to}, {text},
    # {via} (sms or whatsapp) and {delivery_id} filled in; the token goes in
    # `<auth header>: <auth scheme> <token>`.
    sms_gateway_url: str = ""
    sms_gateway_token: SecretStr = SecretStr("")
    sms_gateway_auth_header: str = "Authorization"
    sms_gateway_auth_scheme: str = "Bearer"
    sms_gateway_template: str = (
        '{"to": "{to}", "text": "{text}", "channel": "{via}", "reference": "{delivery_id}"}'
    )
    notification_poll_seconds: float = Field(default=0.5, gt=0)
    # Longer than any send may take (see the send timeout): a lease that expires means
    # the sender died, and the next attempt is logged as a possible duplicate.
    notification_lease_seconds: float = Field(default=60.0, gt=0)
    notification_send_timeout_seconds: float = Field(default=15.0, gt=0)
    notification_retry_max_seconds: float = Field(default=900.0, gt=0)
    webhook_max_consecutive_failures: int = Field(default=10, ge=1)
    # Digests go out when a period ends: each day at `digest_hour` in `digest_timezone`,
    # each week on Monday at that hour. `digest_day_seconds` shortens the "day" so that
    # digests can be seen without waiting (tests, demos); leave it alone in production.
    digest_timezone: str = "Asia/Jakarta"
    digest_hour: int = Field(default=7, ge=0, le=23)
    digest_day_seconds: int = Field(default=86_400, ge=1)
    digest_poll_seconds: float = Field(default=30.0, gt=0)

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
    def database_name(self) -> str:
        return f"{self.namespace}_{self.service_name}".replace("-", "_")
