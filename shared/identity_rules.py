"""What a configuration of identities must satisfy before a service serves (pure).

`ServiceSettings` applies these at construction, so every entrypoint that builds its
settings to serve refuses a configuration that would let forged tokens in: in
production, tokens come from the city's OpenID Connect provider (a JWKS URL and an
audience), never HS256, and the HS256 secret — which signs development tokens with
`python -m shared.web.auth` — is neither the development default nor weak.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

DEVELOPMENT_JWT_SECRET = "berdaya-development-secret-change-me-0123456789"
ENVIRONMENTS = ("development", "production")
MIN_SECRET_LENGTH = 32
# A random secret of 32 characters has far more; "aaaa…" or "abab…" has one or two.
MIN_DISTINCT_CHARACTERS = 10


def normalised_environment(value: str) -> str:
    """`" Production "` → `"production"`; refused (ValueError) unless it is a known one,
    so that a misspelt production ("prod") never runs with development rules."""
    environment = value.strip().lower()
    if environment not in ENVIRONMENTS:
        raise ValueError(
            f"BERDAYA_ENVIRONMENT must be one of {', '.join(ENVIRONMENTS)}, not {value[:40]!r}"
        )
    return environment


def secret_weakness(secret: str) -> str | None:
    """Why `secret` is too weak to sign tokens, or None."""
    if secret == DEVELOPMENT_JWT_SECRET:
        return "is the development default"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if len(set(secret)) < MIN_DISTINCT_CHARACTERS:
        return f"has fewer than {MIN_DISTINCT_CHARACTERS} distinct characters (too little entropy)"
    return None


def jwks_problems(jwks_url: str, audience: str, *, production: bool) -> list[str]:
    """What is wrong with the provider settings (in any environment)."""
    if not jwks_url:
        return []
    problems = []
    scheme = urlsplit(jwks_url).scheme
    if scheme not in ("http", "https") or (production and scheme != "https"):
        wanted = "an https URL" if production else "an http(s) URL"
        problems.append(f"BERDAYA_JWT_JWKS_URL must be {wanted} (the provider's jwks_uri)")
    if not audience:
        problems.append(
            "set BERDAYA_JWT_AUDIENCE to the audience the provider puts in this "
            "service's tokens (its client id): without it any token of the provider passes"
        )
    return problems


def production_problems(
    *, jwks_url: str, allow_hs256: bool, secret: str, algorithms: Sequence[str]
) -> list[str]:
    """What production refuses to start with; each says what to set."""
    problems = []
    if not jwks_url:
        problems.append(
            "set BERDAYA_JWT_JWKS_URL (the OpenID Connect provider's jwks_uri) and "
            "BERDAYA_JWT_AUDIENCE: production takes only the provider's tokens"
        )
    if allow_hs256:
        problems.append("unset BERDAYA_JWT_ALLOW_HS256: HS256 tokens are for development only")
    if not algorithms:
        problems.append("BERDAYA_JWT_ALGORITHMS must name RS256, ES256 or both")
    weakness = secret_weakness(secret)
    if weakness is not None:
        problems.append(
            f"BERDAYA_JWT_SECRET {weakness}: set a random one of at least "
            f"{MIN_SECRET_LENGTH} characters (e.g. `openssl rand -base64 48`)"
        )
    return problems
