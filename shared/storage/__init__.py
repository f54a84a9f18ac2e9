"""MongoDB side of the kernel: client, unit of work, outbox and inbox."""
