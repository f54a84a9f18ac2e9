"""RabbitMQ side of the kernel: topology, publishing, consuming, dead letters."""
