"""`python -m services.notifications` runs the notifications service."""

from services.notifications.bootstrap import SERVICE, SETTINGS, build
from shared.web.serve import serve

if __name__ == "__main__":
    serve(SERVICE, build, SETTINGS)
