"""Every benchmark in one run, one table each, one JSON file (`make bench`).

    .venv/bin/python -m benchmarks [--quick] [--only messaging consumers submissions
        end_to_end] [--backlog 50000] [--profile] [--json out.json]

On one throwaway mongod (or MONGODB_URL) and the local RabbitMQ. Each section puts its
raw baseline beside its figures, measured in the same run; see each module's docstring
for what is measured. The JSON goes to .run/bench/bench-<UTC time>.json (and
latest.json) unless `--json` names a file. `--quick` shortens every section (a few
minutes instead of ten or more; the figures are then rougher).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks import consumers, end_to_end, measure, messaging, submissions
from tests.support.infrastructure import Infrastructure, infrastructure

SECTIONS = ("messaging", "consumers", "submissions", "end_to_end")


async def section(name: str, args: argparse.Namespace, infra: Infrastructure) -> tuple[Any, str]:
    quick = args.quick
    if name == "messaging":
        result: Any = await messaging.run(infra, 500 if quick else 2000)
        return result, messaging.report(result)
    if name == "consumers":
        result = await consumers.run(
            infra,
            500 if quick else 1000,
            list(consumers.CASES),
            [1, 2] if quick else [1, 2, 4],
            args.backlog if args.backlog is not None else (5000 if quick else 50_000),
            args.backlog_service,
            args.profile,
        )
        return result, consumers.report(result)
    if name == "submissions":
        result = await submissions.run(infra, 4 if quick else 10, 32)
        return result, submissions.report(result)
    options = end_to_end.Options(
        rates=[10, 50, 100],
        seconds=3 if quick else 5,
        search_steps=1 if quick else 3,
        p99_limit=1.0,
        profile=args.profile,
    )
    result = await end_to_end.run(infra, options)
    return result, end_to_end.report(result)


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--backlog", type=int, help="events (default 50000; --quick 5000)")
    parser.add_argument("--backlog-service", default="proposals", choices=list(consumers.CASES))
    parser.add_argument(
        "--profile", action="store_true", help="py-spy on the consumers and the services at 50/s"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"machine": measure.machine(), "quick": args.quick}
    reports = []
    started = time.monotonic()
    with infrastructure() as infra:
        for name in args.only:
            print(f"\n{name} …", flush=True)
            section_started = time.monotonic()
            try:
                results[name], text = await section(name, args, infra)
            except Exception as error:  # the other sections' figures are still worth having
                traceback.print_exc()
                results[name], text = {"failed": repr(error)}, f"\n== {name} FAILED: {error!r}"
            results[name]["section_seconds"] = round(time.monotonic() - section_started, 1)
            print(text, flush=True)
            reports.append(text)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    print("\n\n#### all figures" + "".join(reports))
    print(
        f"\n{results['total_seconds']:.0f} s in all; JSON: "
        f"{measure.write_results(results, args.json)}"
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
