"""Webhook secrets encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256).

The keys come from BERDAYA_WEBHOOK_SECRET_KEYS, newest first: the first encrypts, any
of them decrypts (`MultiFernet`), and `reseal` encrypts again with the first — how a
key is retired: add the new key in front, restart (every stored secret is resealed),
then drop the old one.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.notifications.settings import NotificationSettings


class SecretBoxError(Exception):
    """A stored secret that none of the configured keys opens."""


class SecretBox:
    def __init__(self, keys: str) -> None:
        found = [key.strip() for key in keys.split(",") if key.strip()]
        if not found:
            raise ValueError("BERDAYA_WEBHOOK_SECRET_KEYS names no key")
        try:
            fernets = [Fernet(key) for key in found]
            self._first = fernets[0]
            self._fernet = MultiFernet(fernets)
        except ValueError as error:  # the message never holds the key itself
            raise ValueError(
                "BERDAYA_WEBHOOK_SECRET_KEYS must be Fernet keys (32 url-safe base64 bytes), "
                "comma-separated"
            ) from error

    @classmethod
    def of(cls, settings: NotificationSettings) -> SecretBox:
        return cls(settings.webhook_secret_keys.get_secret_value())

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as error:
            raise SecretBoxError(
                "a webhook secret cannot be decrypted with BERDAYA_WEBHOOK_SECRET_KEYS "
                "(was the key that sealed it removed?)"
            ) from error

    def reseal(self, sealed: str) -> str:
        """The same secret, encrypted with the first key."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken as error:
            raise SecretBoxError("a webhook secret cannot be decrypted to reseal it") from error

    def sealed_with_first_key(self, sealed: str) -> bool:
        try:
            self._first.decrypt(sealed.encode())
        except InvalidToken:
            return False
        return True
