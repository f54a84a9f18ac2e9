"""The services, each run by `python -m services <name>`; this list is the one every
tool that goes over all of them (set-up step, AsyncAPI documents, image) reads."""

SERVICES = ("proposals", "materials", "notifications", "transparency")
