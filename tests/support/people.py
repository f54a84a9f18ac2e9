"""The people of the thin flow, as bearer-token headers."""

from __future__ import annotations

from typing import Any

import httpx

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


RESIDENT = Actor(
    id="warga-siti", role=Role.RESIDENT, kecamatan=KECAMATAN, kelurahan=KELURAHAN, rt=RT
)
OTHER_RT_HEAD = Actor(
    id="rt-head-wati", role=Role.RT_HEAD, kecamatan=KECAMATAN, kelurahan=KELURAHAN, rt="004"
)
OTHER_KELURAHAN_OFFICER = Actor(
    id="lurah-staff-tono",
    role=Role.KELURAHAN_OFFICER,
    kecamatan=KECAMATAN,
    kelurahan="Pematang Sulur",
)
# Who takes each proposals route in the ordinary flow (proposals HTTP path → person).
ACTS: dict[str, Actor] = {
    "verify": KELURAHAN_OFFICER,
    "endorse": KECAMATAN_OFFICER,
    "approve": CITY_OFFICER,
    "reject": CITY_OFFICER,
    "cancel": CITY_OFFICER,
    "resubmit": RT_HEAD,
    "withdraw": RT_HEAD,
    "work/start": RT_HEAD,
    "work/progress": RT_HEAD,
    "work/complete": RT_HEAD,
    "validate": SUPERVISOR,
    "work/return": SUPERVISOR,
}


class ProposalDriver:
    """Moves proposals through the proposals API as the rightful people would."""

    def __init__(self, api: httpx.AsyncClient) -> None:
        self.api = api

    async def submit(self, actor: Actor = RT_HEAD, **changes: object) -> str:
        response = await self.api.post(
            "/proposals", json=road_proposal(**changes), headers=auth(actor)
        )
        assert response.status_code == 201, response.text
        proposal_id: str = response.json()["proposal"]["id"]
        return proposal_id

    async def act(
        self,
        proposal_id: str,
        path: str,
        body: dict[str, object] | None = None,
        actor: Actor | None = None,
    ) -> dict[str, Any]:
        """Take the step at `path` as `actor` (default: who takes it in the ordinary flow)."""
        response = await self.api.post(
            f"/proposals/{proposal_id}/{path}", json=body or {}, headers=auth(actor or ACTS[path])
        )
        assert response.status_code == 200, f"{path}: {response.text}"
        proposal: dict[str, Any] = response.json()["proposal"]
        return proposal

    async def set_ceiling(self, kecamatan: str, year: int, ceiling_idr: int) -> None:
        response = await self.api.put(
            f"/budgets/{kecamatan}/{year}",
            json={"ceiling_idr": ceiling_idr},
            headers=auth(CITY_OFFICER),
        )
        assert response.status_code == 200, response.text

    async def approved(
        self, year: int = 2026, budget_idr: int = 150_000_000, **changes: Any
    ) -> str:
        """A reviewed and approved proposal (the kecamatan's ceiling must have room)."""
        proposal_id = await self.submit(**changes)
        await self.act(proposal_id, "verify")
        await self.act(proposal_id, "endorse")
        await self.act(proposal_id, "approve", {"budget_idr": budget_idr, "fiscal_year": year})
        return proposal_id

    async def state_of(self, proposal_id: str) -> str:
        response = await self.api.get(f"/proposals/{proposal_id}", headers=auth(CITY_OFFICER))
        state: str = response.json()["proposal"]["state"]
        return state
