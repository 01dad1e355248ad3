"""The supervisor and intake HTTP API (twisted.web): resources call services, hold no rules."""
