"""HTTP side of the kernel: app factory, health, metrics, auth, error mapping."""
