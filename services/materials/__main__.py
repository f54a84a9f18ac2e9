"""`python -m services.materials` runs the materials service."""

from services.materials.bootstrap import SERVICE, SETTINGS, build
from shared.web.serve import serve

if __name__ == "__main__":
    serve(SERVICE, build, SETTINGS)
