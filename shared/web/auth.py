"""Bearer tokens (JWT) carrying a role and an area scope.

Production: tokens of the city's OpenID Connect provider, verified with its key set
(BERDAYA_JWT_JWKS_URL; the key named by the token's `kid`, RS256 or ES256), audience
(BERDAYA_JWT_AUDIENCE), issuer (BERDAYA_JWT_ISSUER) and a bounded lifetime.
Development: HS256 tokens signed with the shared secret (BERDAYA_JWT_SECRET).
Either way the claims are `sub`, `role`, `name`, `kecamatan`, `kelurahan`, `rt`, each
bounded, and the area they name must be in the area register.

Mint a development token:
    python -m shared.web.auth --sub budi --role rt_head \
        --kecamatan Telanaipura --kelurahan "Simpang IV Sipin" --rt 003
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from shared.clock import utc_now
from shared.identity import Actor, Role
from shared.reference.areas import AreaRegister, area_register
from shared.settings import ServiceSettings
from shared.validation import describe_problems

_bearer = HTTPBearer(auto_error=False, description="JWT with `sub`, `role` and area claims")
ALGORITHM = "HS256"
# Far above any real token (a few hundred bytes to a few KB); refused before parsing.
MAX_TOKEN_CHARS = 8192
# The claim each Actor field comes from.
CLAIM_OF = {
    "id": "sub",
    "role": "role",
    "name": "name",
    "kecamatan": "kecamatan",
    "kelurahan": "kelurahan",
    "rt": "rt",
}
DEFAULT_MAX_LIFETIME = timedelta(hours=12)


class MissingAreaClaims(jwt.InvalidTokenError):
    """A scoped role's token without the area it is scoped to."""


class UnknownArea(jwt.InvalidTokenError):
    """A token naming a kecamatan, kelurahan or RT the area register does not have."""


class KeysUnavailable(Exception):
    """The provider's key set could not be fetched: no fault of the caller's token."""


def mint_token(
    actor: Actor, secret: str, issuer: str, ttl: timedelta = DEFAULT_MAX_LIFETIME
) -> str:
    """A signed token for `actor`; refused (ValueError) for a scoped role without its area."""
    problem = actor.area_problem()
    if problem is not None:
        raise ValueError(f"no token minted: {problem}")
    now = utc_now()
    claims: dict[str, Any] = {
        "sub": actor.id,
        "role": actor.role.value,
        "name": actor.name,
        "kecamatan": actor.kecamatan,
        "kelurahan": actor.kelurahan,
        "rt": actor.rt,
        "iss": issuer,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, ALGORITHM)


def actor_from_claims(claims: Mapping[str, Any], register: AreaRegister | None = None) -> Actor:
    """The actor verified claims describe; refused (InvalidTokenError) when a claim is
    malformed or too long, a scoped role lacks its area, or the area does not exist."""
    try:
        actor = Actor.model_validate(
            {field: claims[claim] for field, claim in CLAIM_OF.items() if claims.get(claim)}
            | {"name": claims.get("name") or ""}
        )
    except ValidationError as error:
        # by claim name, and never the value itself (it may be megabytes)
        problems = [
            {**e, "loc": tuple(CLAIM_OF.get(str(part), str(part)) for part in e["loc"])}
            for e in error.errors(include_url=False, include_input=False)
        ]
        raise jwt.InvalidTokenError(describe_problems(problems)) from None
    problem = actor.area_problem()
    if problem is not None:
        raise MissingAreaClaims(f"{problem}; ask for a token that names it")
    unknown = (register or area_register()).problem_with_scope(
        actor.kecamatan, actor.kelurahan, actor.rt
    )
    if unknown is not None:
        raise UnknownArea(f"its area is not in the area register: {unknown}")
    return actor


def check_lifetime(claims: Mapping[str, Any], max_lifetime: timedelta) -> None:
    """A token may live at most `max_lifetime` (exp - iat): a stolen one expires soon."""
    lifetime = claims["exp"] - claims["iat"]
    if lifetime > max_lifetime.total_seconds():
        raise jwt.InvalidTokenError(
            f"it lives {lifetime:.0f} s (exp - iat), longer than the "
            f"{max_lifetime.total_seconds():.0f} s allowed"
        )


def _decode(
    token: str,
    key: jwt.PyJWK | str,
    algorithms: list[str],
    issuer: str,
    *,
    audience: str | None,
    leeway: float,
    max_lifetime: timedelta,
) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=algorithms,
        issuer=issuer,
        audience=audience,
        leeway=leeway,
        # a provider's RSA key under 2048 bits is refused (the development secret's
        # length is the settings' business)
        options={
            "require": ["sub", "exp", "iat"],
            "enforce_minimum_key_length": isinstance(key, jwt.PyJWK),
        },
    )
    check_lifetime(claims, max_lifetime)
    return claims


def actor_from_token(
    token: str,
    secret: str,
    issuer: str,
    *,
    max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
    leeway: float = 0,
    register: AreaRegister | None = None,
) -> Actor:
    """The actor of a development (HS256) token."""
    claims = _decode(
        token,
        secret,
        [ALGORITHM],
        issuer,
        audience=None,
        leeway=leeway,
        max_lifetime=max_lifetime,
    )
    return actor_from_claims(claims, register)


class JwksKeys:
    """The provider's signing keys, by `kid`, through PyJWT's PyJWKClient and its cache
    of the key set. A `kid` the cached set lacks fetches the set once more (a rotated
    key works without a restart), at most once per `refetch_seconds` (PyJWT's
    cooldown), so that tokens with made-up `kid`s cannot hammer the provider. Fetches
    run in a thread, one at a time: the event loop never waits on the provider."""

    def __init__(
        self, url: str, *, cache_seconds: float, refetch_seconds: float, timeout_seconds: float
    ) -> None:
        self._client = jwt.PyJWKClient(
            url,
            cache_keys=False,  # a key removed from the set must stop working with it
            cache_jwk_set=True,
            lifespan=cache_seconds,
            timeout=timeout_seconds,
            cooldown_duration=refetch_seconds,
        )
        self._fetching = asyncio.Lock()

    def _cached(self, kid: str) -> jwt.PyJWK | None:
        cache = self._client.jwk_set_cache
        key_set = cache.get() if cache is not None else None
        if key_set is None:
            return None
        return next(
            (k for k in key_set.keys if k.key_id == kid and k.public_key_use in ("sig", None)),
            None,
        )

    async def key(self, kid: str) -> jwt.PyJWK:
        found = self._cached(kid)
        if found is not None:
            return found
        async with self._fetching:
            found = self._cached(kid)  # fetched meanwhile by the request before
            if found is not None:
                return found
            try:
                return await asyncio.to_thread(self._client.get_signing_key, kid)
            except jwt.PyJWKClientConnectionError as error:
                raise KeysUnavailable(str(error)) from error
            except (jwt.PyJWKClientError, jwt.PyJWKSetError) as error:
                raise jwt.InvalidTokenError(
                    "its key (kid) is not among the identity provider's keys"
                ) from error


class TokenVerifier:
    """Verifies bearer tokens as `settings` say: the provider's (JWKS) and, in
    development, HS256 ones signed with the shared secret."""

    def __init__(self, settings: ServiceSettings, register: AreaRegister | None = None) -> None:
        self.settings = settings
        self._register = register
        self._jwks = (
            JwksKeys(
                settings.jwt_jwks_url,
                cache_seconds=settings.jwt_jwks_cache_seconds,
                refetch_seconds=settings.jwt_jwks_refetch_seconds,
                timeout_seconds=settings.jwt_jwks_timeout_seconds,
            )
            if settings.jwt_jwks_url
            else None
        )
        # The settings refuse HS256 in production; with a JWKS it takes an explicit yes.
        self._takes_hs256 = self._jwks is None or settings.jwt_allow_hs256

    async def actor(self, token: str) -> Actor:
        if len(token) > MAX_TOKEN_CHARS:
            raise jwt.InvalidTokenError(f"it is longer than {MAX_TOKEN_CHARS} characters")
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        settings = self.settings
        leeway = settings.jwt_leeway_seconds
        max_lifetime = timedelta(seconds=settings.jwt_max_lifetime_seconds)
        if algorithm == ALGORITHM and self._takes_hs256:
            return actor_from_token(
                token,
                settings.jwt_secret.get_secret_value(),
                settings.jwt_issuer,
                max_lifetime=max_lifetime,
                leeway=leeway,
                register=self._register,
            )
        if self._jwks is None or algorithm not in settings.jwt_algorithms:
            accepted: list[str] = list(settings.jwt_algorithms) if self._jwks else [ALGORITHM]
            if self._takes_hs256 and self._jwks:
                accepted.append(ALGORITHM)
            raise jwt.InvalidAlgorithmError(
                f"its algorithm is not accepted here; accepted: {', '.join(accepted)}"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= 256:
            raise jwt.InvalidTokenError("it names no key (the `kid` header)")
        key = await self._jwks.key(kid)
        claims = _decode(
            token,
            key,
            [algorithm],
            settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=leeway,
            max_lifetime=max_lifetime,
        )
        return actor_from_claims(claims, self._register)


def token_verifier(app: FastAPI) -> TokenVerifier:
    """The app's verifier, made once for its settings (it holds the key cache)."""
    settings: ServiceSettings = app.state.settings
    verifier: TokenVerifier | None = getattr(app.state, "token_verifier", None)
    if verifier is None or verifier.settings is not settings:
        verifier = TokenVerifier(settings)
        app.state.token_verifier = verifier
    return verifier


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"}
    )


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None:
        raise _unauthorized("a bearer token is required (Authorization: Bearer <jwt>)")
    try:
        return await token_verifier(request.app).actor(credentials.credentials)
    except jwt.ExpiredSignatureError as error:
        raise _unauthorized("the token has expired; sign in again") from error
    except KeysUnavailable as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the identity provider's keys cannot be fetched now; try again",
            headers={"Retry-After": "5"},
        ) from error
    except (jwt.PyJWTError, ValueError) as error:
        raise _unauthorized(f"the token is not valid: {error}") from error


CurrentActor = Annotated[Actor, Depends(current_actor)]


def main() -> None:
    parser = argparse.ArgumentParser(description="Mint a development bearer token.")
    parser.add_argument("--sub", required=True, help="user id")
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    parser.add_argument("--name", default="")
    parser.add_argument("--kecamatan")
    parser.add_argument("--kelurahan")
    parser.add_argument("--rt")
    parser.add_argument("--hours", type=float, default=12)
    args = parser.parse_args()
    settings = ServiceSettings()
    if settings.production:
        parser.error("BERDAYA_ENVIRONMENT=production takes the identity provider's tokens only")
    if args.hours * 3600 > settings.jwt_max_lifetime_seconds:
        parser.error(f"--hours: at most {settings.jwt_max_lifetime_seconds / 3600:g}")
    try:
        actor = actor_from_claims(
            {
                "sub": args.sub,
                "role": args.role,
                "name": args.name,
                "kecamatan": args.kecamatan,
                "kelurahan": args.kelurahan,
                "rt": args.rt,
            }
        )
    except jwt.InvalidTokenError as error:
        parser.error(f"{error} (--sub, --name, --kecamatan, --kelurahan, --rt)")
    print(
        mint_token(
            actor,
            settings.jwt_secret.get_secret_value(),
            settings.jwt_issuer,
            timedelta(hours=args.hours),
        )
    )


if __name__ == "__main__":
    main()
