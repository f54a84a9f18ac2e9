"""`python -m deploy.local.broker_check URL`: exit 0 if RabbitMQ answers at URL; otherwise
say so, and how to get one, and exit 1. Used by up.sh and test.sh."""

from __future__ import annotations

import asyncio
import sys

import aio_pika

from shared.urls import without_password


async def _connect(url: str) -> None:
    connection = await aio_pika.connect(url, timeout=5)
    await connection.close()


def main(url: str) -> int:
    try:
        asyncio.run(_connect(url))
    except Exception as error:
        print(
            f"error: no RabbitMQ answers at {without_password(url)} "
            f"({type(error).__name__}: {error})\n"
            "Get one, e.g.:\n"
            "    apt-get install rabbitmq-server && rabbitmq-server -detached\n"
            "or point AMQP_URL at a running broker: AMQP_URL=amqp://user:password@host:5672/",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m deploy.local.broker_check AMQP_URL")
    sys.exit(main(sys.argv[1]))
