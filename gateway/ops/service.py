"""The ops listener as a service: starts the metrics refresh and serves ``ops_root``."""

from __future__ import annotations

from typing import Any

from twisted.application import strports
from twisted.application.service import MultiService
from twisted.web.server import Site

from gateway.ops.metrics import GatewayCollector, ops_root


class _QuietSite(Site):
    """No access log line per scrape (Prometheus scrapes every few seconds)."""

    def log(self, request: Any) -> None:
        pass


class OpsService(MultiService):
    name = "ops"

    def __init__(self, endpoint: str, collector: GatewayCollector, reactor: Any = None) -> None:
        super().__init__()
        self.collector = collector
        site = _QuietSite(ops_root(collector))
        site.displayTracebacks = False
        site.noisy = False
        listener = strports.service(endpoint, site, reactor=reactor)
        listener.setName("ops-http")
        listener.setServiceParent(self)

    def startService(self) -> None:
        super().startService()
        self.collector.start()

    def stopService(self) -> Any:
        self.collector.stop()
        return super().stopService()
