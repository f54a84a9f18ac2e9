"""`python -m services <name>` runs one service; the container image's entrypoint."""

from __future__ import annotations

import sys
from importlib import import_module

from services import SERVICES
from shared.web.serve import serve


def main(argv: list[str]) -> None:
    if len(argv) != 1 or argv[0] not in SERVICES:
        raise SystemExit(f"usage: python -m services {{{'|'.join(SERVICES)}}}")
    bootstrap = import_module(f"services.{argv[0]}.bootstrap")
    serve(bootstrap.SERVICE, bootstrap.build, bootstrap.SETTINGS)


if __name__ == "__main__":
    main(sys.argv[1:])
