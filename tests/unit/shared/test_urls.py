from shared.urls import without_password


def test_the_password_is_hidden_and_the_rest_kept() -> None:
    assert (
        without_password("amqp://materials:s3cret@rabbitmq:5672/berdaya")
        == "amqp://materials:***@rabbitmq:5672/berdaya"
    )


def test_a_mongodb_seed_list_keeps_its_hosts() -> None:
    assert (
        without_password("mongodb://app:p%40ss@db-0:27017,db-1:27017/?replicaSet=rs0")
        == "mongodb://app:***@db-0:27017,db-1:27017/?replicaSet=rs0"
    )


def test_a_url_without_credentials_is_unchanged() -> None:
    url = "mongodb://127.0.0.1:27017/?replicaSet=rs0&directConnection=true"
    assert without_password(url) == url
