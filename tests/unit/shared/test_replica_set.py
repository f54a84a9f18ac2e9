import pytest

from shared.storage.replica_set import ReplicaSetError, member_config, parse_address, state


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("proposals-db:27017", ("proposals-db", 27017)),
        ("127.0.0.1:27018", ("127.0.0.1", 27018)),
        ("materials-db", ("materials-db", 27017)),
        ("[::1]:27019", ("::1", 27019)),
    ],
)
def test_an_address_is_host_and_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", ":27017", "db:port", "db:0", "db:70000"])
def test_a_bad_address_is_refused_with_its_text(text: str) -> None:
    with pytest.raises(ReplicaSetError, match="is not HOST:PORT"):
        parse_address(text)


def test_the_one_member_is_the_address_as_given() -> None:
    assert member_config("notifications-db", 27017) == {
        "_id": "rs0",
        "members": [{"_id": 0, "host": "notifications-db:27017"}],
    }
    assert member_config("::1", 27017)["members"][0]["host"] == "[::1]:27017"


@pytest.mark.parametrize(
    ("hello", "expected"),
    [
        ({"isWritablePrimary": True, "setName": "rs0"}, "primary"),
        ({"isWritablePrimary": False, "secondary": True, "setName": "rs0"}, "initiated"),
        ({"isWritablePrimary": False, "isreplicaset": True}, "uninitiated"),
        ({"isWritablePrimary": True}, "unknown"),  # standalone: replSetGetStatus tells
    ],
)
def test_hello_tells_the_state(hello: dict[str, object], expected: str) -> None:
    assert state(hello) == expected


def test_another_replica_set_is_refused() -> None:
    with pytest.raises(ReplicaSetError, match="'other'"):
        state({"setName": "other", "isWritablePrimary": True})
