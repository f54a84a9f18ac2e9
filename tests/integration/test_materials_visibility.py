"""Authorize before revealing state, in the materials service: someone who may not see a
job (another area) gets the 404 of an unknown job or shipment on every read and command,
never the 409 that would name its state; someone who may see it but not act gets 403 —
against the real materials service and MongoDB."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shared.identity import Actor
from tests.support.events import proposal_cancelled
from tests.support.materials import CENTRAL, MaterialsApi, handle
from tests.support.people import (
    KELURAHAN_OFFICER,
    OTHER_KECAMATAN_OFFICER,
    OTHER_KELURAHAN_OFFICER,
    OTHER_RT_HEAD,
    RESIDENT,
    RT_HEAD,
    SUPERVISOR,
    WAREHOUSE_OFFICER,
    auth,
)

OUTSIDERS = [OTHER_RT_HEAD, OTHER_KELURAHAN_OFFICER, OTHER_KECAMATAN_OFFICER]


def no_job(proposal_id: uuid.UUID | str) -> str:
    return f"no materials job for proposal {proposal_id} (is it approved?)"


def no_shipment(shipment_id: uuid.UUID | str) -> str:
    return f"no shipment {shipment_id}"


def everything(shipment: dict[str, Any]) -> dict[str, Any]:
    return {"lines": [{"item": ln["item"], "received": ln["quantity"]} for ln in shipment["lines"]]}


async def dispatch(api: httpx.AsyncClient, proposal_id: object, actor: Actor) -> httpx.Response:
    return await api.post(
        f"/jobs/{proposal_id}/shipments", json={"warehouse": CENTRAL}, headers=auth(actor)
    )


async def confirm(
    api: httpx.AsyncClient, shipment_id: object, body: dict[str, Any], actor: Actor
) -> httpx.Response:
    return await api.post(f"/shipments/{shipment_id}/receipt", json=body, headers=auth(actor))


async def confirmed_and_cancelled(materials: MaterialsApi) -> tuple[uuid.UUID, dict[str, Any]]:
    """A job whose part-shipment was confirmed, then cancelled by the city: dispatching
    to it and confirming that shipment again are both 409s for the rightful people."""
    proposal_id = await materials.approved_road()
    shipment = (
        await materials.dispatch(proposal_id, lines=[{"item": "cement", "quantity": 100}])
    ).json()
    assert (await materials.confirm(shipment["id"], everything(shipment)["lines"])).is_success
    await handle(materials.runtime, materials.handlers, proposal_cancelled(proposal_id))
    return proposal_id, shipment


async def test_the_rightful_people_get_409_naming_the_state(materials: MaterialsApi) -> None:
    """The control: the warehouse officer and the RT head of the job learn its state."""
    proposal_id, shipment = await confirmed_and_cancelled(materials)
    refused = await dispatch(materials.api, proposal_id, WAREHOUSE_OFFICER)
    assert refused.status_code == 409
    assert "cancelled" in refused.json()["detail"]
    again = await confirm(materials.api, shipment["id"], everything(shipment), RT_HEAD)
    assert again.status_code == 409
    assert "confirmed already" in again.json()["detail"]


@pytest.mark.parametrize("outsider", OUTSIDERS, ids=lambda a: a.id)
async def test_someone_of_another_area_gets_the_404_of_an_unknown_job(
    materials: MaterialsApi, outsider: Actor
) -> None:
    proposal_id, shipment = await confirmed_and_cancelled(materials)
    unknown_job, unknown_shipment = uuid.uuid4(), uuid.uuid4()
    answers = {
        "read the job": (
            await materials.api.get(f"/jobs/{proposal_id}", headers=auth(outsider)),
            no_job(proposal_id),
        ),
        "read the shipment": (
            await materials.api.get(f"/shipments/{shipment['id']}", headers=auth(outsider)),
            no_shipment(shipment["id"]),
        ),
        "dispatch": (await dispatch(materials.api, proposal_id, outsider), no_job(proposal_id)),
        "confirm": (
            await confirm(materials.api, shipment["id"], everything(shipment), outsider),
            no_shipment(shipment["id"]),
        ),
    }
    for what, (response, as_if_unknown) in answers.items():
        assert response.status_code == 404, (what, response.text)
        assert response.json()["detail"] == as_if_unknown, what
        assert "cancelled" not in response.text and "confirmed" not in response.text
    # the very answers given for a job and a shipment that do not exist
    for response, detail in (
        (await materials.api.get(f"/jobs/{unknown_job}", headers=auth(outsider)), unknown_job),
        (await dispatch(materials.api, unknown_job, outsider), unknown_job),
    ):
        assert (response.status_code, response.json()["detail"]) == (404, no_job(detail))
    for response in (
        await materials.api.get(f"/shipments/{unknown_shipment}", headers=auth(outsider)),
        await confirm(materials.api, unknown_shipment, everything(shipment), outsider),
    ):
        assert (response.status_code, response.json()["detail"]) == (
            404,
            no_shipment(unknown_shipment),
        )


async def test_who_may_see_the_job_but_not_act_gets_403_whatever_its_state(
    materials: MaterialsApi,
) -> None:
    proposal_id, shipment = await confirmed_and_cancelled(materials)
    for actor in (KELURAHAN_OFFICER, RESIDENT, SUPERVISOR):
        refused = await confirm(materials.api, shipment["id"], everything(shipment), actor)
        assert refused.status_code == 403, (actor.id, refused.text)
        assert refused.json()["detail"] == "only the RT head of the job's RT confirms what arrived"
    for actor in (RT_HEAD, KELURAHAN_OFFICER, SUPERVISOR):
        refused = await dispatch(materials.api, proposal_id, actor)
        assert refused.status_code == 403, (actor.id, refused.text)
        assert refused.json()["detail"] == "only a warehouse officer dispatches materials"
    read = await materials.api.get(f"/jobs/{proposal_id}", headers=auth(KELURAHAN_OFFICER))
    assert read.status_code == 200
    assert read.json()["status"] == "cancelled"


async def test_values_are_checked_only_for_who_may_act(materials: MaterialsApi) -> None:
    """An outsider's invalid body is not judged either: the 404 comes first."""
    proposal_id = await materials.approved_road()
    shipment = (await materials.dispatch(proposal_id)).json()
    odd = {"lines": [{"item": "marble", "received": 1}]}
    outsider = await confirm(materials.api, shipment["id"], odd, OTHER_RT_HEAD)
    assert outsider.status_code == 404
    rightful = await confirm(materials.api, shipment["id"], odd, RT_HEAD)
    assert rightful.status_code == 422
    far = await materials.api.post(
        f"/jobs/{proposal_id}/shipments",
        json={"warehouse": "Gudang X"},
        headers=auth(OTHER_KECAMATAN_OFFICER),
    )
    assert far.status_code == 404
