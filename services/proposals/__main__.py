"""`python -m services.proposals` runs the proposals service."""

from services.proposals.bootstrap import SERVICE, SETTINGS, build
from shared.web.serve import serve

if __name__ == "__main__":
    serve(SERVICE, build, SETTINGS)
