"""Bearer tokens (JWT, HS256) carrying a role and an area scope.

Mint a development token:
    python -m shared.web.auth --sub budi --role rt_head \
        --kecamatan Telanaipura --kelurahan "Simpang IV Sipin" --rt 003
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from shared.clock import utc_now
from shared.identity import Actor, Role
from shared.settings import ServiceSettings

_bearer = HTTPBearer(auto_error=False, description="JWT with `sub`, `role` and area claims")
ALGORITHM = "HS256"


class MissingAreaClaims(jwt.InvalidTokenError):
    """A scoped role's token without the area it is scoped to."""


def mint_token(actor: Actor, secret: str, issuer: str, ttl: timedelta = timedelta(hours=12)) -> str:
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


def actor_from_token(token: str, secret: str, issuer: str) -> Actor:
    claims = jwt.decode(
        token, secret, algorithms=[ALGORITHM], issuer=issuer, options={"require": ["sub", "exp"]}
    )
    actor = Actor(
        id=claims["sub"],
        role=Role(claims.get("role", "")),
        name=claims.get("name", ""),
        kecamatan=claims.get("kecamatan"),
        kelurahan=claims.get("kelurahan"),
        rt=claims.get("rt"),
    )
    problem = actor.area_problem()
    if problem is not None:
        raise MissingAreaClaims(f"{problem}; ask for a token that names it")
    return actor


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
    settings: ServiceSettings = request.app.state.settings
    try:
        return actor_from_token(
            credentials.credentials, settings.jwt_secret.get_secret_value(), settings.jwt_issuer
        )
    except jwt.ExpiredSignatureError as error:
        raise _unauthorized("the token has expired; sign in again") from error
    except (jwt.InvalidTokenError, ValueError, ValidationError) as error:
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
    actor = Actor(
        id=args.sub,
        role=Role(args.role),
        name=args.name,
        kecamatan=args.kecamatan,
        kelurahan=args.kelurahan,
        rt=args.rt,
    )
    problem = actor.area_problem()
    if problem is not None:
        parser.error(f"{problem} (--kecamatan, --kelurahan, --rt)")
    settings = ServiceSettings()
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
