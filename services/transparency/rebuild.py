"""`python -m services.transparency.rebuild [--stream NAME]`: drop the page's read model
and rebuild it from the event history stream (see README)."""

from __future__ import annotations

import argparse
import asyncio

from services.transparency.adapters import repository
from services.transparency.service.rebuild import Rebuild
from services.transparency.settings import TransparencySettings
from shared.logs import configure_logging
from shared.messaging.topology import Topology
from shared.settings import settings_or_refusal
from shared.storage import mongo
from shared.storage.unit_of_work import Transactions


async def rebuild(settings: TransparencySettings, stream: str) -> None:
    client = mongo.connect(settings.mongodb_url, app_name=f"{settings.service_name}-rebuild")
    try:
        db = client[settings.database_name]
        await repository.create_indexes(db)
        report = await Rebuild(
            transactions=Transactions(client, db, "transparency"),
            amqp_url=settings.amqp_url,
            stream=stream,
            max_message_bytes=settings.max_message_bytes,
            user=settings.amqp_user,
            idle_seconds=settings.transparency_rebuild_idle_seconds,
        ).run()
        print(
            f"read {report.read}, applied {report.applied}, skipped {report.skipped}, "
            f"refused {report.refused}"
        )
    finally:
        await client.close()


def main() -> None:
    settings = settings_or_refusal(TransparencySettings)
    default = (
        settings.transparency_history_stream or Topology(settings.namespace).history_stream.name
    )
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stream", default=default, help=f"the history stream (default {default})")
    arguments = parser.parse_args()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    asyncio.run(rebuild(settings, arguments.stream))


if __name__ == "__main__":
    main()
