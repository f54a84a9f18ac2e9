"""`python -m shared.web.healthcheck [ready|health]`: exit 0 when the service in this
container answers on its own port. The image's HEALTHCHECK; slim images have no curl."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from shared.settings import ServiceSettings


def check(path: str, port: int, timeout: float = 2.0) -> bool:
    url = f"http://127.0.0.1:{port}/{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "ready"
    if which not in ("ready", "health"):
        raise SystemExit("usage: python -m shared.web.healthcheck [ready|health]")
    sys.exit(0 if check(which, ServiceSettings().http_port) else 1)
