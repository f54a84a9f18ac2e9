"""The people of the thin flow, as bearer-token headers."""

from __future__ import annotations

from shared.identity import Actor, Role
from shared.settings import ServiceSettings
from shared.web.auth import mint_token

KECAMATAN, KELURAHAN, RT = "Telanaipura", "Simpang IV Sipin", "003"

RT_HEAD = Actor(
    id="rt-head-budi", role=Role.RT_HEAD, kecamatan=KECAMATAN, kelurahan=KELURAHAN, rt=RT
)
KELURAHAN_OFFICER = Actor(
    id="lurah-staff-ani", role=Role.KELURAHAN_OFFICER, kecamatan=KECAMATAN, kelurahan=KELURAHAN
)
KECAMATAN_OFFICER = Actor(id="camat-staff-joko", role=Role.KECAMATAN_OFFICER, kecamatan=KECAMATAN)
OTHER_KECAMATAN_OFFICER = Actor(
    id="camat-staff-rina", role=Role.KECAMATAN_OFFICER, kecamatan="Jelutung"
)
CITY_OFFICER = Actor(id="city-officer-sari", role=Role.CITY_OFFICER)
WAREHOUSE_OFFICER = Actor(id="gudang-dedi", role=Role.WAREHOUSE_OFFICER)
SUPERVISOR = Actor(id="pengawas-eko", role=Role.SUPERVISOR)


def auth(actor: Actor) -> dict[str, str]:
    settings = ServiceSettings()
    token = mint_token(actor, settings.jwt_secret.get_secret_value(), settings.jwt_issuer)
    return {"Authorization": f"Bearer {token}"}


def road_proposal(**overrides: object) -> dict[str, object]:
    return {
        "title": "Rabat beton Gang Mawar",
        "area": {"kecamatan": KECAMATAN, "kelurahan": KELURAHAN, "rt": RT},
        "work_type": "concrete_road",
        "dimensions": {"length_m": 150, "width_m": 4, "thickness_m": 0.12},
        "concrete_grade": "K-175",
        "location": {
            "lat": -1.6105,
            "lng": 103.5912,
            "description": "Gang Mawar, behind the mosque",
        },
        "problem": "The lane turns to mud every rainy season; children cannot reach school dry.",
        "households_served": 62,
        "estimated_cost_idr": 150_000_000,
        "swadaya": {"volunteers": 40, "labour_days": 120, "local_materials": "formwork timber"},
        **overrides,
    }
