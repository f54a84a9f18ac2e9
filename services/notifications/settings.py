"""The notifications service's settings: the shared ones, plus its channels,
dispatcher and digests (each an environment variable prefixed `BERDAYA_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from shared.settings import ServiceSettings

# A Fernet key for development and tests only: production refuses to start with it.
DEVELOPMENT_WEBHOOK_SECRET_KEY = "YmVyZGF5YS1kZXZlbG9wbWVudC13ZWJob29rLWtleSE="


class NotificationSettings(ServiceSettings):
    service_name: str = "notifications"

    # Channels. Unconfigured means nothing is sent on that channel: its deliveries
    # stay pending, with the reason in their log.
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "Berdaya Kota Jambi <berdaya@localhost>"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    # TLS from the first byte (SMTPS, port 465) instead of STARTTLS. Either way the
    # server's certificate is verified against the system's CAs, or `smtp_ca_file`'s.
    smtp_implicit_tls: bool = False
    smtp_ca_file: Path | None = None
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
    # Sends in flight at once per channel and replica: a send mostly waits on the
    # receiver (an SMTP conversation takes several round trips), so one at a time
    # would let a burst of steps queue for seconds behind each other.
    notification_sends_at_once: int = Field(default=8, ge=1, le=64)
    webhook_max_consecutive_failures: int = Field(default=10, ge=1)
    # Fernet keys (comma-separated, newest first) that encrypt the endpoints' secrets
    # at rest: the first encrypts, any decrypts; at start every stored secret is
    # encrypted again with the first, so an old key can be dropped after a restart.
    webhook_secret_keys: SecretStr = SecretStr(DEVELOPMENT_WEBHOOK_SECRET_KEY)
    # After a rotation the old secret still signs (beside the new one) this long.
    webhook_secret_overlap_seconds: float = Field(default=86_400.0, ge=0)
    # Development and tests only: endpoints on loopback and private networks (a local
    # receiver). Refused in production.
    webhook_allow_private_networks: bool = False
    # Digests go out when a period ends: each day at `digest_hour` in `digest_timezone`,
    # each week on Monday at that hour. `digest_day_seconds` shortens the "day" so that
    # digests can be seen without waiting (tests, demos); leave it alone in production.
    digest_timezone: str = "Asia/Jakarta"
    digest_hour: int = Field(default=7, ge=0, le=23)
    digest_day_seconds: int = Field(default=86_400, ge=1)
    digest_poll_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _a_lease_outlasts_a_send(self) -> NotificationSettings:
        # a lease shorter than a send would let a second replica send it meanwhile
        if self.notification_lease_seconds <= self.notification_send_timeout_seconds:
            raise ValueError(
                "BERDAYA_NOTIFICATION_LEASE_SECONDS must be longer than "
                "BERDAYA_NOTIFICATION_SEND_TIMEOUT_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _production_webhooks_are_safe(self) -> NotificationSettings:
        if self.production:
            problems = webhook_production_problems(
                allow_private=self.webhook_allow_private_networks,
                secret_keys=self.webhook_secret_keys.get_secret_value(),
            )
            if problems:
                raise ValueError("; ".join(problems))
        return self


def webhook_production_problems(*, allow_private: bool, secret_keys: str) -> list[str]:
    """What production refuses to start with in the webhook settings."""
    problems = []
    if allow_private:
        problems.append(
            "BERDAYA_WEBHOOK_ALLOW_PRIVATE_NETWORKS is for development; production never "
            "delivers webhooks to private networks"
        )
    if DEVELOPMENT_WEBHOOK_SECRET_KEY in secret_keys:
        problems.append(
            "BERDAYA_WEBHOOK_SECRET_KEYS is the development key; set your own (python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    return problems
