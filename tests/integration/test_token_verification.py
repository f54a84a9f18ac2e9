"""Tokens of an OpenID Connect provider, verified by its key set (JWKS): real RSA and EC
keys made with `cryptography`, the key set served by a real HTTP server on loopback
whose keys change mid-test; and what every token's claims must be (bounded, in the
area register), over HTTP as 401s, never 500s."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shared.identity import Actor, Role
from shared.settings import ServiceSettings
from shared.web.auth import (
    MAX_TOKEN_CHARS,
    CurrentActor,
    KeysUnavailable,
    TokenVerifier,
    UnknownArea,
    mint_token,
)

ISSUER = "https://id.jambikota.example/realms/berdaya"
AUDIENCE = "berdaya-api"
SECRET = "unit-test-secret-of-sufficient-length-0123456789"
RT_HEAD_CLAIMS = {
    "sub": "rt-head-budi",
    "role": "rt_head",
    "name": "Budi",
    "kecamatan": "Telanaipura",
    "kelurahan": "Simpang IV Sipin",
    "rt": "003",
}


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        exporter = RSAAlgorithm if self.algorithm == "RS256" else ECAlgorithm
        public = exporter.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def sign(self, lifetime: timedelta = timedelta(minutes=5), **changes: Any) -> str:
        now = datetime.now(UTC)
        claims = {
            **RT_HEAD_CLAIMS,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + lifetime,
            **changes,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        headers = {"kid": self.kid}
        return jwt.encode(claims, self.private, algorithm=self.algorithm, headers=headers)


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


@dataclass
class KeySetServer:
    """The provider's jwks_uri: serves `keys` as they are now, counts the fetches, and
    answers after `delay` seconds (a slow provider)."""

    keys: list[SigningKey]
    fetches: int = 0
    delay: float = 0.0
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/jwks"

    def serve(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                time.sleep(owner.delay)
                body = json.dumps({"keys": [k.jwk() for k in owner.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def provider() -> Iterator[KeySetServer]:
    server = KeySetServer(keys=[rsa_key("rsa-1"), ec_key("ec-1")])
    server.serve()
    yield server
    server.stop()


def provider_settings(provider: KeySetServer, **changes: Any) -> ServiceSettings:
    given: dict[str, Any] = {
        "jwt_jwks_url": provider.url,
        "jwt_audience": AUDIENCE,
        "jwt_issuer": ISSUER,
        "jwt_jwks_refetch_seconds": 0,
        "jwt_secret": SECRET,
        **changes,
    }
    return ServiceSettings(**given)


def verifier(provider: KeySetServer, **changes: Any) -> TokenVerifier:
    return TokenVerifier(provider_settings(provider, **changes))


# --------------------------------------------------------------------------------------------
# The provider's tokens
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1], ids=["RS256", "ES256"])
async def test_a_provider_token_gives_the_actor(provider: KeySetServer, index: int) -> None:
    actor = await verifier(provider).actor(provider.keys[index].sign())
    assert (actor.id, actor.role, actor.rt) == ("rt-head-budi", Role.RT_HEAD, "003")


async def test_a_token_for_another_audience_is_refused(provider: KeySetServer) -> None:
    token = provider.keys[0].sign(aud="another-app")
    with pytest.raises(jwt.InvalidAudienceError):
        await verifier(provider).actor(token)


async def test_a_token_without_an_audience_is_refused(provider: KeySetServer) -> None:
    with pytest.raises(jwt.MissingRequiredClaimError, match="aud"):
        await verifier(provider).actor(provider.keys[0].sign(aud=None))


async def test_a_token_of_another_issuer_is_refused(provider: KeySetServer) -> None:
    with pytest.raises(jwt.InvalidIssuerError):
        await verifier(provider).actor(provider.keys[0].sign(iss="https://elsewhere.example"))


async def test_a_token_living_longer_than_allowed_is_refused(provider: KeySetServer) -> None:
    check = verifier(provider, jwt_max_lifetime_seconds=3600)
    assert await check.actor(provider.keys[0].sign(lifetime=timedelta(hours=1)))
    with pytest.raises(jwt.InvalidTokenError, match="longer than the 3600 s allowed"):
        await check.actor(provider.keys[0].sign(lifetime=timedelta(hours=1, seconds=1)))


async def test_a_token_without_iat_is_refused(provider: KeySetServer) -> None:
    with pytest.raises(jwt.MissingRequiredClaimError, match="iat"):
        await verifier(provider).actor(provider.keys[0].sign(iat=None))


async def test_an_expired_token_is_refused_past_the_leeway(provider: KeySetServer) -> None:
    now = datetime.now(UTC)
    within = provider.keys[0].sign(iat=now - timedelta(minutes=5), exp=now - timedelta(seconds=10))
    past = provider.keys[0].sign(iat=now - timedelta(minutes=5), exp=now - timedelta(seconds=40))
    check = verifier(provider, jwt_leeway_seconds=30)
    assert await check.actor(within)
    with pytest.raises(jwt.ExpiredSignatureError):
        await check.actor(past)


async def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(
    provider: KeySetServer,
) -> None:
    impostor = rsa_key(provider.keys[0].kid)
    with pytest.raises(jwt.InvalidSignatureError):
        await verifier(provider).actor(impostor.sign())


async def test_an_unknown_kid_is_refused_and_refetches_at_most_once_per_period(
    provider: KeySetServer,
) -> None:
    check = verifier(provider, jwt_jwks_refetch_seconds=60)
    assert await check.actor(provider.keys[0].sign())
    assert provider.fetches == 1
    for attempt in range(5):
        with pytest.raises(jwt.InvalidTokenError, match="not among the identity provider's keys"):
            await check.actor(rsa_key(f"made-up-{attempt}").sign())
    # the first fetch started the cooldown: made-up kids cost the provider nothing
    assert provider.fetches == 1


async def test_a_rotated_key_is_taken_without_a_restart(provider: KeySetServer) -> None:
    check = verifier(provider)
    old = provider.keys[0]
    assert await check.actor(old.sign())
    new = rsa_key("rsa-2")
    provider.keys = [new]  # the provider rotates: the old key is gone
    actor = await check.actor(new.sign())
    assert actor.id == "rt-head-budi"
    assert provider.fetches == 2  # one refetch, for the kid it did not know
    with pytest.raises(jwt.InvalidTokenError, match="not among"):
        await check.actor(old.sign())


async def test_a_slow_provider_does_not_block_the_event_loop(provider: KeySetServer) -> None:
    provider.delay = 0.5
    ticks = 0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    check = verifier(provider)
    actors = await asyncio.gather(*(check.actor(k.sign()) for k in provider.keys * 3))
    done.set()
    await ticker
    assert len(actors) == 6
    assert provider.fetches == 1  # concurrent requests wait for one fetch
    assert ticks >= 20  # the loop kept running while the key set was fetched


async def test_an_unreachable_provider_is_unavailable_not_an_invalid_token() -> None:
    settings = ServiceSettings(
        jwt_jwks_url="http://127.0.0.1:9/jwks", jwt_audience=AUDIENCE, jwt_issuer=ISSUER
    )
    with pytest.raises(KeysUnavailable):
        await TokenVerifier(settings).actor(rsa_key("rsa-1").sign())


async def test_hs256_is_refused_when_a_provider_is_configured(provider: KeySetServer) -> None:
    token = mint_token(Actor(id="x", role=Role.CITY_OFFICER), SECRET, ISSUER)
    with pytest.raises(jwt.InvalidAlgorithmError, match=r"accepted: RS256, ES256$"):
        await verifier(provider).actor(token)
    allowed = await verifier(provider, jwt_allow_hs256=True).actor(token)
    assert allowed.role is Role.CITY_OFFICER


async def test_a_provider_token_is_refused_without_a_provider() -> None:
    settings = ServiceSettings(jwt_secret=SECRET, jwt_issuer=ISSUER)
    with pytest.raises(jwt.InvalidAlgorithmError, match=r"accepted: HS256$"):
        await TokenVerifier(settings).actor(rsa_key("rsa-1").sign())


async def test_an_algorithm_not_allowed_is_refused(provider: KeySetServer) -> None:
    with pytest.raises(jwt.InvalidAlgorithmError):
        await verifier(provider, jwt_algorithms=("RS256",)).actor(provider.keys[1].sign())


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"kecamatan": "Atlantis"}, "unknown kecamatan 'Atlantis'"),
        ({"kelurahan": "Legok"}, "kelurahan 'Legok' is not in kecamatan Telanaipura"),
        ({"rt": "031"}, "RT 031 does not exist in Simpang IV Sipin"),
        ({"rt": "3"}, "RT 3 does not exist"),
    ],
    ids=["kecamatan", "kelurahan", "rt-out-of-range", "rt-malformed"],
)
async def test_a_token_naming_an_area_not_in_the_register_is_refused(
    provider: KeySetServer, claims: dict[str, Any], message: str
) -> None:
    with pytest.raises(UnknownArea, match=message):
        await verifier(provider).actor(provider.keys[0].sign(**claims))


async def test_a_resident_naming_an_rt_without_its_kelurahan_is_refused(
    provider: KeySetServer,
) -> None:
    token = provider.keys[0].sign(role="resident", kecamatan=None, kelurahan=None)
    with pytest.raises(UnknownArea, match="named without its kelurahan"):
        await verifier(provider).actor(token)


# --------------------------------------------------------------------------------------------
# Over HTTP: every refusal a 401 (a provider away: 503), never a 500
# --------------------------------------------------------------------------------------------


@pytest.fixture
async def api(provider: KeySetServer) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.settings = provider_settings(provider)

    @app.get("/me")
    async def me(actor: CurrentActor) -> dict[str, str]:
        return {"id": actor.id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


LONG = "x" * 3000  # a claim far over its bound, in a token under MAX_TOKEN_CHARS


@pytest.mark.parametrize(
    ("claims", "said"),
    [
        ({"sub": LONG}, "sub: String should have at most 120 characters"),
        ({"name": LONG}, "name: String should have at most 120 characters"),
        ({"kecamatan": LONG}, "kecamatan: String should have at most 120 characters"),
        ({"kelurahan": LONG}, "kelurahan: String should have at most 120 characters"),
        ({"rt": LONG}, "rt: String should have at most 3 characters"),
        ({"role": LONG}, "role: Input should be 'resident'"),
        ({"sub": 42}, "Subject must be a string"),
        ({"kecamatan": "Atlantis"}, "its area is not in the area register: unknown kecamatan"),
    ],
    ids=["sub", "name", "kecamatan", "kelurahan", "rt", "role", "sub-not-text", "area"],
)
async def test_bad_claims_are_401_saying_which_without_echoing_them(
    api: httpx.AsyncClient, provider: KeySetServer, claims: dict[str, Any], said: str
) -> None:
    response = await api.get("/me", headers=bearer(provider.keys[0].sign(**claims)))
    assert response.status_code == 401
    assert said in response.json()["detail"]
    assert len(response.text) < 1000


async def test_an_oversized_token_is_401(api: httpx.AsyncClient) -> None:
    response = await api.get("/me", headers=bearer("e" * (MAX_TOKEN_CHARS + 1)))
    assert response.status_code == 401
    assert "longer than" in response.json()["detail"]


async def test_a_garbled_token_is_401(api: httpx.AsyncClient) -> None:
    response = await api.get("/me", headers=bearer("not.a.jwt"))
    assert response.status_code == 401


async def test_a_provider_token_passes_over_http(
    api: httpx.AsyncClient, provider: KeySetServer
) -> None:
    response = await api.get("/me", headers=bearer(provider.keys[1].sign()))
    assert response.status_code == 200
    assert response.json() == {"id": "rt-head-budi"}


async def test_a_provider_away_is_503_with_retry_after() -> None:
    app = FastAPI()
    app.state.settings = ServiceSettings(
        jwt_jwks_url="http://127.0.0.1:9/jwks", jwt_audience=AUDIENCE, jwt_issuer=ISSUER
    )

    @app.get("/me")
    async def me(actor: CurrentActor) -> dict[str, str]:
        return {"id": actor.id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get("/me", headers=bearer(rsa_key("rsa-1").sign()))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
