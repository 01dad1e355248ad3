"""What an operator watches: Prometheus metrics, liveness and readiness (``docs/deployment.md``)."""
