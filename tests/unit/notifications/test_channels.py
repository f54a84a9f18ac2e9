"""What the channels put on the wire, built without sending (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.notifications.adapters.senders import (
    GatewaySender,
    SmtpSender,
    compose_email,
    fill_template,
)
from services.notifications.domain.deliveries import NotificationDelivery
from services.notifications.settings import NotificationSettings

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def delivery(**values: object) -> NotificationDelivery:
    return NotificationDelivery.model_validate(
        {
            "id": uuid.UUID("11111111-2222-4333-8444-555555555555"),
            "key": "k",
            "channel": "email",
            "recipient_id": "budi",
            "address": "budi@example.id",
            "title": "Usulan disetujui",
            "body": "Kota menyetujui usulan.",
            "next_step": "Tunggu kabar.",
            "created_at": NOW,
            "next_attempt_at": NOW,
            **values,
        }
    )


def test_an_email_has_the_delivery_id_as_message_id_and_the_text_with_a_footer() -> None:
    message = compose_email(delivery(), "Berdaya <berdaya@jambikota.go.id>")
    assert message["Message-ID"] == "<11111111-2222-4333-8444-555555555555@berdaya>"
    assert message["Subject"] == "[Berdaya] Usulan disetujui"
    assert message["To"] == "budi@example.id"
    assert message["Content-Language"] == "id"
    body = message.get_content()
    assert body.startswith("Kota menyetujui usulan. Tunggu kabar.")
    assert "Berdaya, Kota Jambi" in body


def test_the_gateway_template_takes_any_text_safely() -> None:
    template = {"to": "{to}", "msg": "{text}", "meta": ["{via}", 3], "ref": "id-{delivery_id}"}
    filled = fill_template(
        template, {"to": "+62", "text": 'quote " and {brace}', "via": "sms", "delivery_id": "d"}
    )
    assert filled == {"to": "+62", "msg": 'quote " and {brace}', "meta": ["sms", 3], "ref": "id-d"}


def test_an_unconfigured_channel_says_which_setting_is_missing() -> None:
    assert "BERDAYA_SMTP_HOST" in (SmtpSender(NotificationSettings()).problem() or "")
    assert "BERDAYA_SMS_GATEWAY_URL" in (GatewaySender(NotificationSettings()).problem() or "")
    bad = NotificationSettings(sms_gateway_url="http://gw", sms_gateway_template="{not json")
    assert "not JSON" in (GatewaySender(bad).problem() or "")
    assert GatewaySender(NotificationSettings(sms_gateway_url="http://gw")).problem() is None
