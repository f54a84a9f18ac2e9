"""Bearer tokens: minting and reading back an actor, and the ways a token is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared.identity import Actor, Role
from shared.web.auth import ALGORITHM, actor_from_token, mint_token

SECRET = "unit-test-secret-of-sufficient-length-0123456789"
ISSUER = "berdaya"

RT_HEAD = Actor(
    id="rt-head-budi",
    role=Role.RT_HEAD,
    name="Budi",
    kecamatan="Telanaipura",
    kelurahan="Simpang IV Sipin",
    rt="003",
)
CITY_OFFICER = Actor(id="city-officer-sari", role=Role.CITY_OFFICER, name="Sari")


@pytest.mark.parametrize("actor", [RT_HEAD, CITY_OFFICER], ids=["scoped", "city-wide"])
def test_a_minted_token_gives_back_the_actor(actor: Actor) -> None:
    token = mint_token(actor, SECRET, ISSUER)
    assert actor_from_token(token, SECRET, ISSUER) == actor


def test_a_city_wide_token_carries_no_area_claims() -> None:
    claims = jwt.decode(
        mint_token(CITY_OFFICER, SECRET, ISSUER), SECRET, algorithms=[ALGORITHM], issuer=ISSUER
    )
    assert not {"kecamatan", "kelurahan", "rt"} & set(claims)
    assert claims["sub"] == "city-officer-sari"
    assert claims["role"] == "city_officer"


def test_the_token_lives_for_its_ttl() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    token = mint_token(RT_HEAD, SECRET, ISSUER, ttl=timedelta(hours=2))
    claims = jwt.decode(token, SECRET, algorithms=[ALGORITHM], issuer=ISSUER)
    lifetime = claims["exp"] - claims["iat"]
    assert lifetime == 2 * 3600
    assert claims["iat"] >= before.timestamp()


def test_an_expired_token_is_refused() -> None:
    token = mint_token(RT_HEAD, SECRET, ISSUER, ttl=timedelta(seconds=-5))
    with pytest.raises(jwt.ExpiredSignatureError):
        actor_from_token(token, SECRET, ISSUER)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = mint_token(RT_HEAD, "another-secret-of-sufficient-length-9876543210", ISSUER)
    with pytest.raises(jwt.InvalidSignatureError):
        actor_from_token(token, SECRET, ISSUER)


def test_a_token_from_another_issuer_is_refused() -> None:
    token = mint_token(RT_HEAD, SECRET, "someone-else")
    with pytest.raises(jwt.InvalidIssuerError):
        actor_from_token(token, SECRET, ISSUER)


def test_a_token_without_expiry_is_refused() -> None:
    token = jwt.encode({"sub": "x", "role": "rt_head", "iss": ISSUER}, SECRET, ALGORITHM)
    with pytest.raises(jwt.MissingRequiredClaimError):
        actor_from_token(token, SECRET, ISSUER)


def test_a_token_with_an_unknown_role_is_refused() -> None:
    exp = datetime.now(UTC) + timedelta(minutes=5)
    token = jwt.encode({"sub": "x", "role": "mayor", "iss": ISSUER, "exp": exp}, SECRET, ALGORITHM)
    with pytest.raises(ValueError, match="mayor"):
        actor_from_token(token, SECRET, ISSUER)


def test_an_unsigned_token_is_refused() -> None:
    exp = datetime.now(UTC) + timedelta(minutes=5)
    token = jwt.encode({"sub": "x", "role": "rt_head", "iss": ISSUER, "exp": exp}, None, "none")
    with pytest.raises(jwt.InvalidAlgorithmError):
        actor_from_token(token, SECRET, ISSUER)
