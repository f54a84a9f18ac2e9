"""`python -m services.transparency` runs the transparency service."""

from services.transparency.bootstrap import SERVICE, SETTINGS, build
from shared.web.serve import serve

if __name__ == "__main__":
    serve(SERVICE, build, SETTINGS)
