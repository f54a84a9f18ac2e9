"""Bearer tokens: minting and reading back an actor, and the ways a token is refused."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI

from shared.contracts.types import Area
from shared.identity import Actor, Role
from shared.settings import ServiceSettings
from shared.web.auth import (
    ALGORITHM,
    CurrentActor,
    MissingAreaClaims,
    actor_from_token,
    mint_token,
)
from shared.web.auth import main as auth_cli

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
    claims = {"sub": "x", "role": "mayor", "iss": ISSUER, "iat": exp - timedelta(minutes=6)}
    token = jwt.encode({**claims, "exp": exp}, SECRET, ALGORITHM)
    with pytest.raises(jwt.InvalidTokenError, match="role: Input should be 'resident'"):
        actor_from_token(token, SECRET, ISSUER)


def test_an_unsigned_token_is_refused() -> None:
    exp = datetime.now(UTC) + timedelta(minutes=5)
    claims = {"sub": "x", "role": "rt_head", "iss": ISSUER, "exp": exp}
    token = jwt.encode(claims, None, "none")  # type: ignore[arg-type]  # "none" needs no key
    with pytest.raises(jwt.InvalidAlgorithmError):
        actor_from_token(token, SECRET, ISSUER)


# --------------------------------------------------------------------------------------------
# A scoped role's token must name its area: without it, it is refused, never city-wide
# --------------------------------------------------------------------------------------------

FULL_AREA = {"kecamatan": "Telanaipura", "kelurahan": "Simpang IV Sipin", "rt": "003"}
INCOMPLETE = [
    (Role.RT_HEAD, {"kecamatan": "Telanaipura", "kelurahan": "Simpang IV Sipin"}, "rt"),
    (Role.RT_HEAD, {}, "kecamatan, kelurahan, rt"),
    (Role.KELURAHAN_OFFICER, {"kecamatan": "Telanaipura"}, "kelurahan"),
    (Role.KELURAHAN_OFFICER, {"kelurahan": "Simpang IV Sipin"}, "kecamatan"),
    (Role.KECAMATAN_OFFICER, {}, "kecamatan"),
    (Role.KECAMATAN_OFFICER, {"kecamatan": ""}, "kecamatan"),
]
INCOMPLETE_IDS = [f"{role.value}-missing-{missing}" for role, _, missing in INCOMPLETE]


def hand_made_token(role: Role, area: dict[str, str]) -> str:
    now = datetime.now(UTC)
    exp = now + timedelta(minutes=5)
    claims = {"sub": "x", "role": role.value, "iss": ISSUER, "iat": now, "exp": exp, **area}
    return jwt.encode(claims, SECRET, ALGORITHM)


@pytest.mark.parametrize(("role", "area", "missing"), INCOMPLETE, ids=INCOMPLETE_IDS)
def test_a_scoped_token_without_its_area_is_refused(
    role: Role, area: dict[str, str], missing: str
) -> None:
    with pytest.raises(
        MissingAreaClaims, match=f"a {role.value} must carry its area.*missing: {missing}; ask"
    ):
        actor_from_token(hand_made_token(role, area), SECRET, ISSUER)


@pytest.mark.parametrize(("role", "area", "missing"), INCOMPLETE, ids=INCOMPLETE_IDS)
def test_no_token_is_minted_for_a_scoped_role_without_its_area(
    role: Role, area: dict[str, str], missing: str
) -> None:
    actor = Actor(id="x", role=role, **area)
    with pytest.raises(ValueError, match=f"no token minted: .*missing: {missing}$"):
        mint_token(actor, SECRET, ISSUER)


@pytest.mark.parametrize(("role", "area", "missing"), INCOMPLETE, ids=INCOMPLETE_IDS)
def test_a_scoped_actor_without_its_area_covers_nothing(
    role: Role, area: dict[str, str], missing: str
) -> None:
    assert missing
    assert not Actor(id="x", role=role, **area).covers(Area.model_validate(FULL_AREA))


@pytest.mark.parametrize(
    "role", [Role.CITY_OFFICER, Role.WAREHOUSE_OFFICER, Role.SUPERVISOR, Role.RESIDENT]
)
def test_city_wide_roles_and_residents_need_no_area(role: Role) -> None:
    actor = Actor(id="x", role=role)
    assert actor_from_token(mint_token(actor, SECRET, ISSUER), SECRET, ISSUER) == actor
    assert actor_from_token(hand_made_token(role, {}), SECRET, ISSUER).role is role


@pytest.mark.parametrize(
    ("role", "area"),
    [
        (Role.RT_HEAD, FULL_AREA),
        (Role.KELURAHAN_OFFICER, {k: FULL_AREA[k] for k in ("kecamatan", "kelurahan")}),
        (Role.KECAMATAN_OFFICER, {"kecamatan": "Telanaipura"}),
    ],
)
def test_a_scoped_token_with_its_area_covers_it(role: Role, area: dict[str, str]) -> None:
    actor = actor_from_token(hand_made_token(role, area), SECRET, ISSUER)
    assert actor.covers(Area.model_validate(FULL_AREA))
    assert not actor.covers(Area.model_validate({**FULL_AREA, "kecamatan": "Jelutung"}))


async def test_a_request_with_an_area_less_token_is_401_saying_what_is_missing() -> None:
    app = FastAPI()
    app.state.settings = ServiceSettings(jwt_secret=SECRET, jwt_issuer=ISSUER)

    @app.get("/me")
    async def me(actor: CurrentActor) -> dict[str, str]:
        return {"id": actor.id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        token = hand_made_token(Role.KECAMATAN_OFFICER, {})
        refused = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401
        assert refused.json()["detail"] == (
            "the token is not valid: a kecamatan_officer must carry its area (kecamatan); "
            "missing: kecamatan; ask for a token that names it"
        )
        token = hand_made_token(Role.KECAMATAN_OFFICER, {"kecamatan": "Telanaipura"})
        accepted = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert accepted.status_code == 200


def test_the_dev_cli_refuses_to_mint_a_scoped_token_without_its_area(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        sys, "argv", ["auth", "--sub", "budi", "--role", "rt_head", "--kecamatan", "Telanaipura"]
    )
    with pytest.raises(SystemExit) as exited:
        auth_cli()
    assert exited.value.code == 2
    assert "a rt_head must carry its area" in capsys.readouterr().err
