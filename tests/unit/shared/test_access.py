"""The MongoDB roles' privileges, computed without a server (tests/integration/
test_mongo_access.py proves them against one)."""

from __future__ import annotations

import pytest

from shared.storage import access, audit


def by_collection(database: str, collections: tuple[str, ...]) -> dict[str, set[str]]:
    return {
        p["resource"]["collection"]: set(p["actions"])
        for p in access.privileges(database, collections)
        if p["resource"]["db"] == database
    }


def test_every_privilege_is_on_the_services_own_database_only() -> None:
    granted = access.privileges("berdaya_proposals", access.owned_collections("proposals"))
    assert {p["resource"]["db"] for p in granted} == {"berdaya_proposals"}


def test_the_audit_trail_may_be_appended_and_read_but_not_changed() -> None:
    actions = by_collection("db", ("proposals",))[audit.COLLECTION]
    assert {"find", "insert"} <= actions
    assert not actions & {"update", "remove", "dropCollection", "renameCollectionSameDB"}


def test_the_audit_trail_stays_append_only_even_if_declared_as_owned() -> None:
    actions = by_collection("db", ("proposals", audit.COLLECTION))[audit.COLLECTION]
    assert "update" not in actions and "remove" not in actions


def test_the_database_wide_privilege_only_lists_collections() -> None:
    # a {"collection": ""} resource matches every collection of the database
    assert by_collection("db", ("proposals",))[""] == {"listCollections"}


def test_a_service_owns_the_runtimes_collections_and_what_it_declares() -> None:
    owned = access.owned_collections("materials")
    assert owned[: len(access.RUNTIME_COLLECTIONS)] == access.RUNTIME_COLLECTIONS
    assert "stock_ledger" in owned
    # every service keeps the answers to Idempotency-Keys (the dead-letter replays)
    for service in access.SERVICES:
        assert "idempotency_keys" in access.owned_collections(service)
    assert len(owned) == len(set(owned))


def test_an_unknown_service_is_refused() -> None:
    with pytest.raises(access.AccessError, match="unknown service 'billing'"):
        access.owned_collections("billing")


def test_passwords_come_from_the_environment_with_development_defaults() -> None:
    assert access.password_for("proposals", {}) == "proposals-dev"
    given = {"PROPOSALS_MONGODB_PASSWORD": "s3cret"}
    assert access.password_for("proposals", given) == "s3cret"


@pytest.mark.parametrize("environment", ["production", "PRODUCTION", " Production "])
def test_production_has_no_default_password(environment: str) -> None:
    with pytest.raises(access.AccessError, match="MATERIALS_MONGODB_PASSWORD is not set"):
        access.password_for("materials", {"BERDAYA_ENVIRONMENT": environment})


def test_a_former_collection_may_only_be_read_and_renamed_away() -> None:
    former = access.former_collections("materials")
    assert former == ("closed_proposals",)
    granted = {
        p["resource"]["collection"]: set(p["actions"])
        for p in access.privileges("db", access.owned_collections("materials"), former)
    }
    assert granted["closed_proposals"] == {"find", "dropCollection"}
    assert access.former_collections("proposals") == ()
