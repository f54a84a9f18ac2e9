"""MongoDB least privilege against the wheel's mongod with access control on.

The first user (an administrator) is made through the localhost exception; then
`python -m shared.storage.access` gives each service its own user, and real clients
show what each may do: its own database, the audit trail append-only, nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import OperationFailure

from deploy.local import run
from services.materials.adapters import repository
from shared.settings import database_name
from shared.storage import access, audit
from tests.support.infrastructure import Infrastructure
from tests.support.materials import materials_api, receive_stock
from tests.support.people import KECAMATAN
from tests.support.proposals import proposals_api
from tests.support.runtime import running_service

ADMIN, ADMIN_PASSWORD = "admin", "admin-test-password"
UNAUTHORIZED = 13
RUN_SECONDS = 60
Client = MongoClient[dict[str, Any]]


@dataclass(frozen=True)
class SecuredMongod:
    url: str  # no credentials

    def as_user(self, user: str, password: str, auth_source: str) -> str:
        scheme, rest = self.url.split("://", 1)
        return f"{scheme}://{quote(user)}:{quote(password)}@{rest}&authSource={auth_source}"

    @property
    def admin_url(self) -> str:
        return self.as_user(ADMIN, ADMIN_PASSWORD, "admin")

    def service_url(self, namespace: str, service: str) -> str:
        return self.as_user(service, f"{service}-dev", database_name(namespace, service))

    def client(self, url: str) -> Client:
        return MongoClient(url, serverSelectionTimeoutMS=5000, uuidRepresentation="standard")


@pytest.fixture(scope="module")
def secured() -> Iterator[SecuredMongod]:
    with tempfile.TemporaryDirectory(prefix="berdaya-test-mongo-auth-") as directory:
        key_file = Path(directory) / "keyfile"
        key_file.write_text(base64.b64encode(secrets.token_bytes(96)).decode())
        key_file.chmod(0o400)
        mongod = run.start_mongod(Path(directory) / "data", run.free_port(), key_file=key_file)
        try:
            client: Client
            with MongoClient(mongod.url, serverSelectionTimeoutMS=5000) as client:
                # the localhost exception: the one thing allowed before any user exists
                client.admin.command("createUser", ADMIN, pwd=ADMIN_PASSWORD, roles=["root"])
            yield SecuredMongod(mongod.url)
        finally:
            mongod.stop()


def set_up(secured: SecuredMongod, namespace: str, **environ: str) -> int:
    return access.main(
        [*access.SERVICES, "--namespace", namespace],
        {"MONGODB_ADMIN_URL": secured.admin_url, **environ},
    )


@pytest.fixture
def users(secured: SecuredMongod, namespace: str) -> SecuredMongod:
    assert set_up(secured, namespace) == 0
    return secured


def refused(action: Any) -> OperationFailure:
    with pytest.raises(OperationFailure) as caught:
        action()
    assert caught.value.code == UNAUTHORIZED, caught.value.details
    return caught.value


def test_without_a_user_nothing_is_readable(users: SecuredMongod, namespace: str) -> None:
    with users.client(users.url) as anonymous:
        refused(lambda: anonymous[database_name(namespace, "proposals")]["proposals"].find_one())


def test_a_service_cannot_read_or_write_another_services_database(
    users: SecuredMongod, namespace: str
) -> None:
    materials_db = database_name(namespace, "materials")
    with users.client(users.admin_url) as admin:
        admin[materials_db]["jobs"].insert_one({"_id": "job-1"})
    with users.client(users.service_url(namespace, "proposals")) as proposals:
        other = proposals[materials_db]
        refused(lambda: other["jobs"].find_one())
        refused(lambda: other["jobs"].insert_one({"_id": "forged"}))
        refused(lambda: other["jobs"].delete_one({"_id": "job-1"}))
        refused(lambda: other[audit.COLLECTION].insert_one({"forged": True}))
        refused(lambda: other.list_collection_names())
        # a listing of databases names only those it has privileges on
        assert materials_db not in proposals.list_database_names()
    with users.client(users.admin_url) as admin:
        assert list(admin[materials_db]["jobs"].find()) == [{"_id": "job-1"}]


def test_a_service_uses_its_own_collections_and_no_other(
    users: SecuredMongod, namespace: str
) -> None:
    with users.client(users.service_url(namespace, "proposals")) as client:
        own = client[database_name(namespace, "proposals")]
        own["proposals"].insert_one({"_id": "p-1", "state": "submitted"})
        own["proposals"].update_one({"_id": "p-1"}, {"$set": {"state": "verified"}})
        assert own["proposals"].find_one({"_id": "p-1"}) == {"_id": "p-1", "state": "verified"}
        own["proposals"].create_index("state")
        assert own["proposals"].delete_one({"_id": "p-1"}).deleted_count == 1
        assert "proposals" in own.list_collection_names()
        # least privilege inside its own database too: only what it declared
        refused(lambda: own["undeclared"].insert_one({"_id": 1}))
        refused(lambda: own["proposals"].drop())


def test_a_transaction_in_its_own_database_works_under_its_user(
    users: SecuredMongod, namespace: str
) -> None:
    with users.client(users.service_url(namespace, "materials")) as client:
        own = client[database_name(namespace, "materials")]
        for name in ("jobs", "outbox"):
            own.create_collection(name, check_exists=False)
        with client.start_session() as session, session.start_transaction():
            own["jobs"].insert_one({"_id": "job-1"}, session=session)
            own["outbox"].insert_one({"_id": "event-1"}, session=session)
        assert own["jobs"].count_documents({}) == 1
        assert own["outbox"].count_documents({}) == 1


async def test_materials_renames_its_former_markers_collection_under_its_own_user(
    users: SecuredMongod, namespace: str
) -> None:
    """Its role may read and drop `closed_proposals`, which is what renaming it takes."""
    database = database_name(namespace, "materials")
    with users.client(users.admin_url) as admin:
        admin[database][repository.FORMER_MARKERS].insert_one({"_id": "p-1"})
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        users.service_url(namespace, "materials"), serverSelectionTimeoutMS=5000
    )
    try:
        await repository.rename_former_markers(client[database])
    finally:
        await client.close()
    with users.client(users.admin_url) as admin:
        names = set(admin[database].list_collection_names())
        assert repository.FORMER_MARKERS not in names
        assert list(admin[database][repository.MARKERS].find()) == [{"_id": "p-1"}]


def test_the_audit_trail_is_append_only(users: SecuredMongod, namespace: str) -> None:
    with users.client(users.service_url(namespace, "proposals")) as client:
        trail = client[database_name(namespace, "proposals")][audit.COLLECTION]
        trail.insert_one({"_id": "entry-1", "action": "verify"})
        trail.create_index("action")
        assert trail.find_one({"_id": "entry-1"}) == {"_id": "entry-1", "action": "verify"}
        refused(lambda: trail.update_one({"_id": "entry-1"}, {"$set": {"action": "forged"}}))
        refused(lambda: trail.replace_one({"_id": "entry-1"}, {"action": "forged"}))
        refused(lambda: trail.delete_one({"_id": "entry-1"}))
        refused(lambda: trail.find_one_and_delete({"_id": "entry-1"}))
        refused(lambda: trail.drop())
        assert list(trail.find()) == [{"_id": "entry-1", "action": "verify"}]


def test_set_up_again_updates_the_password(users: SecuredMongod, namespace: str) -> None:
    assert set_up(users, namespace, NOTIFICATIONS_MONGODB_PASSWORD="rotated-secret") == 0
    database = database_name(namespace, "notifications")
    with (
        users.client(users.service_url(namespace, "notifications")) as old,
        pytest.raises(OperationFailure, match="Authentication failed"),
    ):
        old[database]["feed"].find_one()
    rotated = users.as_user("notifications", "rotated-secret", database)
    with users.client(rotated) as new:
        assert new[database]["feed"].find_one() is None


async def test_each_service_runs_under_its_own_user_in_the_collections_it_declares(
    users: SecuredMongod, namespace: str, infra: Infrastructure
) -> None:
    """The drift test: real start-ups and commands under each service's own user,
    then every collection in each database must be one its role names."""

    def under(service: str) -> Infrastructure:
        return Infrastructure(infra.amqp_url, users.service_url(namespace, service), "auth")

    # A collection its role does not name makes a service wait at start for ever
    # (it retries what MongoDB refuses): bounded here, the refusal is in the log.
    async with asyncio.timeout(RUN_SECONDS):
        async with proposals_api(under("proposals"), namespace) as proposals:
            await proposals.drive.set_ceiling(KECAMATAN, 2026, 500_000_000)
            await proposals.drive.approved()
        async with materials_api(under("materials"), namespace) as materials:
            response = await receive_stock(materials.api, {"cement": 10})
            assert response.status_code == 201, response.text
        async with running_service("notifications", under("notifications"), namespace):
            pass
        async with running_service("transparency", under("transparency"), namespace):
            pass
    with users.client(users.admin_url) as admin:
        for service in access.SERVICES:
            found = set(admin[database_name(namespace, service)].list_collection_names())
            declared = {*access.owned_collections(service), audit.COLLECTION}
            assert found, f"{service} created nothing: did it run?"
            assert found <= declared, f"{service}: undeclared {found - declared}"


def test_production_refuses_to_set_up_without_passwords(secured: SecuredMongod) -> None:
    environ = {"BERDAYA_ENVIRONMENT": "Production", "MONGODB_ADMIN_URL": secured.admin_url}
    assert access.main(["proposals"], environ) == 1
