"""Errors that domain code raises and every entry point translates the same way."""

from __future__ import annotations


class DomainError(Exception):
    """A request that the rules refuse; `message` is written for the person who asked."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    """The request clashes with the current state (an illegal transition, a spent budget)."""

    status_code = 409


class Unprocessable(DomainError):
    status_code = 422
