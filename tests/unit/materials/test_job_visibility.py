"""Who may see a job and who may act on it: the 404 of an unknown job or shipment for
someone of another area, 403 for someone who may see but not act."""

from __future__ import annotations

import uuid

import pytest

from services.materials.domain.job import no_job, no_shipment
from shared.errors import Forbidden, NotFound
from shared.identity import Actor, Role
from tests.unit.materials.builders import job_for

KECAMATAN, KELURAHAN = "Telanaipura", "Simpang IV Sipin"
RT_HEAD = Actor(id="rt-003", role=Role.RT_HEAD, kecamatan=KECAMATAN, kelurahan=KELURAHAN, rt="003")
OUTSIDERS = [
    Actor(id="rt-004", role=Role.RT_HEAD, kecamatan=KECAMATAN, kelurahan=KELURAHAN, rt="004"),
    Actor(
        id="lurah-ps", role=Role.KELURAHAN_OFFICER, kecamatan=KECAMATAN, kelurahan="Pematang Sulur"
    ),
    Actor(id="camat-jl", role=Role.KECAMATAN_OFFICER, kecamatan="Jelutung"),
    # a scoped role missing part of its area sees nothing, never the whole city
    Actor(id="rt-no-area", role=Role.RT_HEAD, kecamatan=KECAMATAN),
]
SEE_BUT_NOT_CONFIRM = [
    Actor(id="gudang", role=Role.WAREHOUSE_OFFICER),
    Actor(id="city", role=Role.CITY_OFFICER),
    Actor(id="pengawas", role=Role.SUPERVISOR),
    Actor(id="lurah", role=Role.KELURAHAN_OFFICER, kecamatan=KECAMATAN, kelurahan=KELURAHAN),
    Actor(id="warga", role=Role.RESIDENT, kecamatan=KECAMATAN, kelurahan=KELURAHAN, rt="003"),
]


@pytest.mark.parametrize("outsider", OUTSIDERS, ids=lambda a: a.id)
def test_someone_of_another_area_gets_the_404_of_an_unknown_job(outsider: Actor) -> None:
    job, shipment_id = job_for({"cement": 10}), uuid.uuid4()
    assert not job.visible_to(outsider)
    with pytest.raises(NotFound) as read:
        job.check_readable_by(outsider, no_job(job.proposal_id))
    assert read.value.message == no_job(job.proposal_id).message
    with pytest.raises(NotFound) as confirm:
        job.check_receiver(outsider, shipment_id)
    assert confirm.value.message == f"no shipment {shipment_id}"
    assert confirm.value.message == no_shipment(shipment_id).message


@pytest.mark.parametrize("actor", SEE_BUT_NOT_CONFIRM, ids=lambda a: a.id)
def test_who_may_see_the_job_but_not_confirm_gets_403(actor: Actor) -> None:
    job = job_for({"cement": 10})
    assert job.visible_to(actor)
    with pytest.raises(Forbidden, match="only the RT head of the job's RT"):
        job.check_receiver(actor, uuid.uuid4())


def test_the_rt_head_of_the_job_reads_and_confirms() -> None:
    job = job_for({"cement": 10})
    job.check_readable_by(RT_HEAD, no_job(job.proposal_id))
    job.check_receiver(RT_HEAD, uuid.uuid4())


def test_a_resident_of_the_area_may_not_read_the_job() -> None:
    job = job_for({"cement": 10})
    with pytest.raises(Forbidden, match="RT head and officers of its area"):
        job.check_readable_by(SEE_BUT_NOT_CONFIRM[-1], no_job(job.proposal_id))
