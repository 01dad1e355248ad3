"""Service events: the one schema every intake door (AMQP, HTTP, file) validates against."""
