"""The notifications API against real MongoDB and RabbitMQ: preferences, the directory,
following, webhooks, the delivery log and the feed — with 4xx answers a person can act on."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio

from shared.identity import Actor, Role
from shared.runtime import ServiceRuntime
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import (
    RT_HEAD_ENTRY,
    channel_settings,
    deliveries_of,
    journey_event,
    notifications_api,
    preferences,
    register,
)
from tests.support.people import CITY_OFFICER, RT_HEAD, auth
from tests.support.probe import until_async
from tests.support.runtime import publish_envelope

SITI = Actor(id="warga-siti", role=Role.RESIDENT, kecamatan="Telanaipura")
# a resident of another kecamatan: sees only what is published
OUTSIDER = Actor(id="warga-rudi", role=Role.RESIDENT, kecamatan="Jelutung")
Service = tuple[ServiceRuntime, httpx.AsyncClient]


@pytest_asyncio.fixture(loop_scope="session")
async def service(infra: Infrastructure, namespace: str) -> AsyncIterator[Service]:
    async with notifications_api(infra, namespace, **channel_settings()) as found:
        yield found


@pytest.fixture
def api(service: Service) -> httpx.AsyncClient:
    """The client of `service`'s HTTP API, for the tests that need nothing else."""
    return service[1]


async def known_proposal(service: Service, infra: Infrastructure, namespace: str) -> uuid.UUID:
    """A proposal the service has heard of."""
    runtime, _ = service
    proposal_id = uuid.uuid4()
    await publish_envelope(infra, namespace, journey_event("proposal.submitted", proposal_id))
    await until_async(
        lambda: runtime.db["known_proposals"].count_documents({"_id": str(proposal_id)}),
        lambda n: n == 1,
        what="the proposal to be known",
    )
    return proposal_id


async def test_before_choosing_anything_a_person_sees_the_defaults_of_their_role(
    api: httpx.AsyncClient,
) -> None:
    me = (await api.get("/people/me", headers=auth(RT_HEAD))).json()
    assert me["using_defaults"] is True
    assert me["preferences"] == {"channels": ["email", "in_app"], "frequency": "immediately"}
    assert me["person"]["kelurahan"] == "Simpang IV Sipin"


async def test_a_person_sets_their_own_contact_and_preferences(api: httpx.AsyncClient) -> None:
    changed = await api.patch(
        "/people/me",
        json={
            "email": "siti@warga.id",
            "language": "en",
            "preferences": preferences("email", "in_app", frequency="daily"),
        },
        headers=auth(SITI),
    )
    assert changed.status_code == 200, changed.text
    again = await api.patch("/people/me", json={"phone": "+6281300000001"}, headers=auth(SITI))
    view = again.json()
    assert view["using_defaults"] is False
    assert view["preferences"]["frequency"] == "daily"
    assert view["person"]["email"] == "siti@warga.id"  # kept: only the phone changed
    assert view["person"]["phone"] == "+6281300000001"
    assert view["person"]["role"] == "resident"  # from the token, not from the body


async def test_a_bad_preference_or_address_is_422_naming_the_field(api: httpx.AsyncClient) -> None:
    bad_frequency = await api.patch(
        "/people/me",
        json={"preferences": {"channels": ["email"], "frequency": "hourly"}},
        headers=auth(SITI),
    )
    assert bad_frequency.status_code == 422
    assert "frequency" in bad_frequency.text and "daily" in bad_frequency.text
    bad_email = await api.patch("/people/me", json={"email": "siti at home"}, headers=auth(SITI))
    assert bad_email.status_code == 422 and "email" in bad_email.text
    sneaky = await api.patch("/people/me", json={"role": "city_officer"}, headers=auth(SITI))
    assert sneaky.status_code == 422 and "role" in sneaky.text


async def test_only_city_officers_manage_the_directory(api: httpx.AsyncClient) -> None:
    as_resident = await api.put("/people/x", json={"role": "resident"}, headers=auth(SITI))
    assert as_resident.status_code == 403
    assert as_resident.json()["detail"] == (
        "only city officers may manage the people directory; you are signed in as resident"
    )
    listing = await api.get("/people", headers=auth(SITI))
    assert listing.status_code == 403
    other = await api.get(f"/people/{RT_HEAD.id}", headers=auth(SITI))
    assert other.status_code == 403


async def test_an_officer_entry_needs_a_real_area_of_their_level(api: httpx.AsyncClient) -> None:
    missing = await api.put(
        "/people/ani",
        json={"role": "kelurahan_officer", "kecamatan": "Telanaipura"},
        headers=auth(CITY_OFFICER),
    )
    assert missing.status_code == 422
    assert missing.json()["detail"] == "a kelurahan_officer needs kelurahan"
    wrong = await api.put(
        "/people/ani",
        json={"role": "kelurahan_officer", "kecamatan": "Telanaipura", "kelurahan": "Legok"},
        headers=auth(CITY_OFFICER),
    )
    assert wrong.status_code == 422
    assert "kelurahan 'Legok' is not in kecamatan Telanaipura" in wrong.json()["detail"]
    await register(
        api, "ani", role="kelurahan_officer", kecamatan="Telanaipura", kelurahan="Simpang IV Sipin"
    )
    listed = await api.get("/people?role=kelurahan_officer", headers=auth(CITY_OFFICER))
    assert [p["id"] for p in listed.json()["items"]] == ["ani"]
    removed = await api.delete("/people/ani", headers=auth(CITY_OFFICER))
    assert removed.status_code == 204
    gone = await api.get("/people/ani", headers=auth(CITY_OFFICER))
    assert gone.status_code == 404 and "nobody with id 'ani'" in gone.json()["detail"]


async def test_following_a_proposal_not_heard_of_yet_says_to_try_again(
    api: httpx.AsyncClient,
) -> None:
    unknown = uuid.uuid4()
    response = await api.put(f"/following/{unknown}", headers=auth(SITI))
    assert response.status_code == 404
    assert response.json()["detail"] == no_published_proposal(unknown)


def no_published_proposal(proposal_id: uuid.UUID) -> str:
    return (
        f"no published proposal {proposal_id} is known here; if it was just published, "
        "try again in a moment"
    )


async def step(
    service: Service, infra: Infrastructure, namespace: str, event_type: str, proposal_id: uuid.UUID
) -> None:
    """Publish one step of the proposal and wait until the service has heard of it."""
    runtime, _ = service
    await publish_envelope(infra, namespace, journey_event(event_type, proposal_id))
    await until_async(
        lambda: runtime.db["known_proposals"].find_one({"_id": str(proposal_id)}),
        lambda found: found is not None and found.get("last_event_type") == event_type,
        what=f"{event_type} to be heard of",
    )


async def test_a_proposal_not_published_cannot_be_followed_from_outside_its_area(
    service: Service, infra: Infrastructure, namespace: str
) -> None:
    _, api = service
    proposal_id = await known_proposal(service, infra, namespace)  # submitted
    refused = await api.put(f"/following/{proposal_id}", headers=auth(OUTSIDER))
    # the same answer as for a proposal never heard of: not even its existence shows
    assert refused.status_code == 404
    assert refused.json()["detail"] == no_published_proposal(proposal_id)
    for unpublished in ("proposal.returned", "proposal.withdrawn"):
        await step(service, infra, namespace, unpublished, proposal_id)
        again = await api.put(f"/following/{proposal_id}", headers=auth(OUTSIDER))
        assert again.status_code == 404, unpublished
    assert (await api.get("/following", headers=auth(OUTSIDER))).json()["items"] == []


async def test_a_published_proposal_can_be_followed_by_anyone_without_its_proposer(
    service: Service, infra: Infrastructure, namespace: str
) -> None:
    _, api = service
    proposal_id = await known_proposal(service, infra, namespace)
    await step(service, infra, namespace, "proposal.verified", proposal_id)
    followed = await api.put(f"/following/{proposal_id}", headers=auth(OUTSIDER))
    assert followed.status_code == 200, followed.text
    listed = (await api.get("/following", headers=auth(OUTSIDER))).json()["items"]
    assert [p["proposal_id"] for p in listed] == [str(proposal_id)]
    assert "proposer_id" not in listed[0]
    assert listed[0]["published"] is True
    # returned to its RT after: no longer public, no longer shown to the outsider
    await step(service, infra, namespace, "proposal.returned", proposal_id)
    assert (await api.get("/following", headers=auth(OUTSIDER))).json()["items"] == []


async def test_whether_a_proposal_is_public_is_what_its_latest_step_states(
    service: Service, infra: Infrastructure, namespace: str
) -> None:
    """From v2 on the producer states it; notifications take its word, not the type's."""
    runtime, api = service
    proposal_id = uuid.uuid4()

    async def heard(event_type: str, public: bool) -> None:
        event = journey_event(event_type, proposal_id, version=2, public=public)
        await publish_envelope(infra, namespace, event)
        await until_async(
            lambda: runtime.db["known_proposals"].find_one({"_id": str(proposal_id)}),
            lambda found: found is not None and found.get("last_event_type") == event_type,
            what=f"{event_type} to be heard of",
        )
        known = await runtime.db["known_proposals"].find_one({"_id": str(proposal_id)})
        assert known is not None and known["public"] is public

    await heard("proposal.verified", public=False)
    withheld = await api.put(f"/following/{proposal_id}", headers=auth(OUTSIDER))
    assert withheld.status_code == 404
    await heard("proposal.endorsed", public=True)
    followed = await api.put(f"/following/{proposal_id}", headers=auth(OUTSIDER))
    assert followed.status_code == 200, followed.text


async def test_a_step_heard_late_does_not_undo_a_later_one(
    service: Service, infra: Infrastructure, namespace: str
) -> None:
    runtime, api = service
    proposal_id = uuid.uuid4()
    submitted = journey_event("proposal.submitted", proposal_id)
    verified = journey_event("proposal.verified", proposal_id)
    await publish_envelope(infra, namespace, verified)
    await until_async(
        lambda: runtime.db["known_proposals"].count_documents({"_id": str(proposal_id)}),
        lambda n: n == 1,
        what="the proposal to be known",
    )
    await publish_envelope(infra, namespace, submitted)  # happened first, heard last
    await until_async(
        lambda: runtime.db["inbox"].count_documents({"event_id": str(submitted.event_id)}),
        lambda n: n >= 1,
        what="the late step to be handled",
    )
    followed = await api.put(f"/following/{proposal_id}", headers=auth(OUTSIDER))
    assert followed.status_code == 200, followed.text


async def test_follow_then_unfollow_a_proposal(
    service: Service,
    infra: Infrastructure,
    namespace: str,
) -> None:
    runtime, api = service
    proposal_id = await known_proposal(service, infra, namespace)
    followed = await api.put(f"/following/{proposal_id}", headers=auth(SITI))
    assert followed.json() == {"proposal_id": str(proposal_id), "following": True}
    assert (await api.put(f"/following/{proposal_id}", headers=auth(SITI))).status_code == 200
    listed = (await api.get("/following", headers=auth(SITI))).json()["items"]
    assert [(p["proposal_id"], p["title"]) for p in listed] == [
        (str(proposal_id), "Rabat beton Gang Mawar")
    ]
    assert "proposer_id" not in listed[0]  # a submitted proposal, in Siti's own area
    # a first-time follower is in the directory now, with their token's role and area
    me = (await api.get("/people/me", headers=auth(SITI))).json()
    assert me["person"]["kecamatan"] == "Telanaipura"

    await publish_envelope(infra, namespace, journey_event("proposal.verified", proposal_id))
    await until_async(
        lambda: api.get("/notifications", headers=auth(SITI)),
        lambda r: r.json()["total"] == 1,
        what="the follower's feed entry",
    )
    unfollowed = await api.delete(f"/following/{proposal_id}", headers=auth(SITI))
    assert unfollowed.json() == {"proposal_id": str(proposal_id), "following": False}
    endorsed = journey_event("proposal.endorsed", proposal_id)
    await publish_envelope(infra, namespace, endorsed)
    await until_async(
        lambda: runtime.db["feed"].count_documents({"event_id": endorsed.event_id}),
        lambda n: n >= 1,
        what="the RT head to hear of the next step",
    )
    feed = (await api.get("/notifications", headers=auth(SITI))).json()["items"]
    assert [item["event_type"] for item in feed] == ["proposal.verified"]


async def _feed_items(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.get("/notifications", headers=auth(RT_HEAD))).json()[
        "items"
    ]
    return items


async def test_the_feed_counts_unread_and_marks_read(
    service: Service,
    infra: Infrastructure,
    namespace: str,
) -> None:
    _, api = service
    await known_proposal(service, infra, namespace)
    # the in-app item is delivered after the consumer's transaction, by the dispatcher
    feed = await until_async(
        lambda: _feed_items(api), lambda items: len(items) == 1, what="the in-app item"
    )
    assert feed[0]["title"] == "Usulan diajukan"
    assert (await api.get("/notifications/unread-count", headers=auth(RT_HEAD))).json() == {
        "unread": 1
    }
    first = await api.post(f"/notifications/{feed[0]['id']}/read", headers=auth(RT_HEAD))
    again = await api.post(f"/notifications/{feed[0]['id']}/read", headers=auth(RT_HEAD))
    not_mine = await api.post(f"/notifications/{feed[0]['id']}/read", headers=auth(SITI))
    assert (first.json(), again.json(), not_mine.json()) == (
        {"marked": True},
        {"marked": False},
        {"marked": False},
    )
    assert (await api.get("/notifications/unread-count", headers=auth(RT_HEAD))).json() == {
        "unread": 0
    }


async def test_webhooks_are_for_city_officers_and_refuse_what_cannot_work(
    api: httpx.AsyncClient,
) -> None:
    wanted = {"url": "https://localhost/hook", "events": ["proposal.*"]}
    forbidden = await api.post("/webhooks", json=wanted, headers=auth(RT_HEAD))
    assert forbidden.status_code == 403
    assert "only city officers may register webhooks" in forbidden.json()["detail"]
    unknown = await api.post(
        "/webhooks", json={**wanted, "events": ["budget.*"]}, headers=auth(CITY_OFFICER)
    )
    assert unknown.status_code == 422
    assert unknown.json()["detail"].startswith("no event matches 'budget.*'")
    short = await api.post(
        "/webhooks", json={**wanted, "secret": "abc"}, headers=auth(CITY_OFFICER)
    )
    assert short.status_code == 422 and short.json()["detail"].startswith("a secret must be whsec_")
    not_http = await api.post(
        "/webhooks", json={**wanted, "url": "ftp://x"}, headers=auth(CITY_OFFICER)
    )
    assert not_http.status_code == 422 and "https://" in not_http.json()["detail"]


async def test_a_registered_webhook_shows_its_secret_once(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/webhooks",
        json={"url": "https://localhost/hook", "events": ["*"]},
        headers=auth(CITY_OFFICER),
    )
    assert created.status_code == 201, created.text
    secret, endpoint = created.json()["secret"], created.json()["endpoint"]
    assert secret.startswith("whsec_") and endpoint["secret_hint"] == secret[-4:]
    shown = (await api.get(f"/webhooks/{endpoint['id']}", headers=auth(CITY_OFFICER))).json()
    assert "secret" not in shown
    changed = await api.patch(
        f"/webhooks/{endpoint['id']}", json={"events": ["work.*"]}, headers=auth(CITY_OFFICER)
    )
    assert changed.json()["events"] == ["work.*"]
    disabled = await api.post(f"/webhooks/{endpoint['id']}/disable", headers=auth(CITY_OFFICER))
    assert disabled.json()["enabled"] is False
    assert disabled.json()["disabled_reason"] == f"disabled by {CITY_OFFICER.id}"
    removed = await api.delete(f"/webhooks/{endpoint['id']}", headers=auth(CITY_OFFICER))
    assert removed.status_code == 204
    assert (
        await api.get(f"/webhooks/{endpoint['id']}", headers=auth(CITY_OFFICER))
    ).status_code == 404


async def test_every_command_retried_with_its_key_acts_once_and_answers_the_same(
    service: Service,
) -> None:
    """The directory, following, the feed and webhook changes, sent twice with one
    Idempotency-Key (a client whose first answer was lost): one effect, one audit
    record, the first answer again — a removal answers 204 again, not 404."""
    runtime, api = service
    officer = {**auth(CITY_OFFICER), "Idempotency-Key": f"k-{uuid.uuid4()}"}

    async def twice(
        send: Callable[[], Awaitable[httpx.Response]],
    ) -> tuple[httpx.Response, httpx.Response]:
        return await send(), await send()

    person = f"warga-{uuid.uuid4().hex[:8]}"
    entry = {**RT_HEAD_ENTRY, "email": f"{person}@example.org"}
    put = await twice(lambda: api.put(f"/people/{person}", json=entry, headers=officer))
    removed = await twice(
        lambda: api.delete(
            f"/people/{person}", headers={**officer, "Idempotency-Key": f"rm-{person}"}
        )
    )
    created = await api.post(
        "/webhooks",
        json={"url": "https://localhost/hook", "events": ["*"]},
        headers=auth(CITY_OFFICER),
    )
    path = f"/webhooks/{created.json()['endpoint']['id']}"
    changed = await twice(
        lambda: api.patch(
            path, json={"events": ["work.*"]}, headers={**officer, "Idempotency-Key": "ch-1"}
        )
    )
    disabled = await twice(
        lambda: api.post(f"{path}/disable", headers={**officer, "Idempotency-Key": "off-1"})
    )
    gone = await twice(lambda: api.delete(path, headers={**officer, "Idempotency-Key": "del-1"}))
    audit = {
        action: await runtime.db["audit_log"].count_documents(
            {"action": action, "target_id": target}
        )
        for action, target in (
            ("put_person", person),
            ("delete_person", person),
            ("change_webhook", path.rsplit("/", 1)[-1]),
            ("disable_webhook", path.rsplit("/", 1)[-1]),
            ("delete_webhook", path.rsplit("/", 1)[-1]),
        )
    }

    for first, again in (put, changed, disabled):
        assert first.status_code == again.status_code == 200, again.text
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replay"] == "true"
    for first, again in (removed, gone):
        assert (first.status_code, again.status_code) == (204, 204), again.text
        assert again.headers["Idempotent-Replay"] == "true"
    assert audit == dict.fromkeys(audit, 1)


async def test_following_and_reading_retried_with_their_keys_answer_the_same(
    service: Service, infra: Infrastructure, namespace: str
) -> None:
    runtime, api = service
    proposal_id = await known_proposal(service, infra, namespace)
    await step(service, infra, namespace, "proposal.verified", proposal_id)
    keyed = {**auth(OUTSIDER), "Idempotency-Key": f"f-{proposal_id}"}
    follows = [await api.put(f"/following/{proposal_id}", headers=keyed) for _ in "12"]
    assert [f.status_code for f in follows] == [200, 200]
    assert (
        follows[1].json()
        == follows[0].json()
        == {
            "proposal_id": str(proposal_id),
            "following": True,
        }
    )
    item = await until_async(
        lambda: runtime.db["feed"].find_one(
            {"recipient_id": RT_HEAD.id, "proposal_id": proposal_id}
        ),
        lambda found: found is not None,
        what="the proposer's feed item",
    )
    read_key = {**auth(RT_HEAD), "Idempotency-Key": f"r-{item['_id']}"}
    reads = [await api.post(f"/notifications/{item['_id']}/read", headers=read_key) for _ in "12"]
    # without a key the second would say it was read already; with it, the first answer
    assert [r.json() for r in reads] == [{"marked": True}, {"marked": True}]
    again = await api.post(f"/notifications/{item['_id']}/read", headers=auth(RT_HEAD))
    assert again.json() == {"marked": False}


async def test_each_person_reads_their_own_delivery_log(
    service: Service,
    infra: Infrastructure,
    namespace: str,
) -> None:
    runtime, api = service
    await register(api, RT_HEAD.id, **RT_HEAD_ENTRY, preferences=preferences("email", "in_app"))
    await known_proposal(service, infra, namespace)  # an RT head is not e-mailed about this
    validated = journey_event("work.validated", uuid.uuid4())
    await publish_envelope(infra, namespace, validated)
    (row,) = await until_async(
        lambda: deliveries_of(runtime, event_id=validated.event_id),
        lambda found: len(found) == 1,
        what="the e-mail delivery",
    )
    mine = (await api.get("/deliveries", headers=auth(RT_HEAD))).json()
    assert [d["id"] for d in mine["items"]] == [str(row.id)]
    assert (mine["total"], mine["page"], mine["page_size"]) == (1, 1, 50)
    assert mine["items"][0]["status"] == "pending"  # e-mail is not configured in this test
    assert (await api.get("/deliveries", headers=auth(SITI))).json()["items"] == []
    second_page = await api.get("/deliveries?page=2&page_size=1", headers=auth(RT_HEAD))
    assert (second_page.json()["items"], second_page.json()["total"]) == ([], 1)
    peeking = await api.get(f"/deliveries?recipient_id={RT_HEAD.id}", headers=auth(SITI))
    assert peeking.status_code == 403
    one = await api.get(f"/deliveries/{row.id}", headers=auth(CITY_OFFICER))
    assert one.json()["log"][0]["outcome"] == "waiting"
    not_failed = await api.post(f"/deliveries/{row.id}/retry", headers=auth(CITY_OFFICER))
    assert not_failed.status_code == 409
    assert "only a failed delivery can be retried" in not_failed.json()["detail"]
