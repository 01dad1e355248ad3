"""``/metrics`` (Prometheus text format), ``/healthz`` and ``/readyz`` for one pingjing process.

Everything is read when scraped, from what the daemon already keeps: the SMPP service's
counters and window, each link's state, the AMQP consumer's pause, the callback scheduler's
calls, and the database's queue depths (refreshed in the background every
``REFRESH_SECONDS``, one short transaction, so a scrape never waits on SQL). Labels are
statuses, reasons and link names: never a phone number, a text or a secret.

Served on its own endpoint (``[http] ops_endpoint``, loopback by default) without a token, like
any exporter: a supervisor and Prometheus need no API credentials, and the API's routes stay
the documented ones.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Request

log = Logger()

REFRESH_SECONDS = 5.0
#: Readiness fails when the last successful database read is older than this.
STALE_SECONDS = 30.0
#: Transaction latency buckets (seconds).
BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, float("inf"))


class LatencyHistogram:
    """Database transaction latencies, observed on the pool threads by ``Database.run``
    (its ``on_transaction`` hook)."""

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.total = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        i = bisect.bisect_left(BUCKETS, seconds)
        with self._lock:
            self.total += seconds
            self.counts[i] += 1


class GatewayCollector:
    """Reads the daemon's parts at scrape time (see the module docstring)."""

    def __init__(
        self,
        app: Any,
        read_depths: Callable[..., Any],
        *,
        instance: str,
        clock: Any = None,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self.app = app
        self.instance = instance
        self.clock = clock
        self._read_depths = read_depths
        self.depths: Any = None
        self.depths_at: float | None = None  # clock time of the last successful read
        self.depth_error: str | None = None
        self.latency = LatencyHistogram()
        self._loop: LoopingCall | None = None

    # -- the background read ---------------------------------------------------------------

    def start(self) -> None:
        self._loop = LoopingCall(self.refresh)
        self._loop.clock = self.clock
        self._loop.start(REFRESH_SECONDS, now=True).addErrback(
            lambda f: log.failure("metrics refresh loop stopped", f)
        )

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def refresh(self) -> Any:
        now = datetime.fromtimestamp(self.clock.seconds(), UTC)
        d = self.app.db.run(self._read_depths, now)

        def got(depths: Any) -> None:
            self.depths, self.depths_at, self.depth_error = depths, self.clock.seconds(), None

        def failed(f: Any) -> None:
            self.depth_error = f.getErrorMessage()[:200]

        return d.addCallbacks(got, failed)

    # -- readiness -------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Why this process should not be given traffic now (empty: ready)."""
        out = []
        if self.depths_at is None or self.clock.seconds() - self.depths_at > STALE_SECONDS:
            out.append(f"database not read recently ({self.depth_error or 'no answer yet'})")
        smpp = getattr(self.app, "smpp", None)
        if smpp is not None and getattr(smpp, "_tx", None) is None:
            out.append("SMPP: no bind that can transmit")
        return out

    # -- the scrape ------------------------------------------------------------------------

    def _links(self) -> Iterable[Any]:
        smpp = getattr(self.app, "smpp", None)
        if smpp is not None:
            yield from smpp.links.values()
        for part in ("ami", "amqp"):
            link = getattr(getattr(self.app, part, None), "link", None)
            if link is not None:
                yield link

    def collect(self) -> Iterable[Any]:
        up = GaugeMetricFamily(
            "pingjing_link_up", "1 while the link to a peer is up", labels=["link"]
        )
        for link in self._links():
            up.add_metric([link.link], 1.0 if link.is_up else 0.0)
        yield up
        yield from self._smpp()
        yield from self._workers()
        yield from self._depths()
        hist = HistogramMetricFamily(
            "pingjing_db_transaction_seconds", "Database transaction latency, this process"
        )
        cumulative, buckets = 0, []
        for bound, count in zip(BUCKETS, self.latency.counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
        hist.add_metric([], buckets, self.latency.total)
        yield hist

    def _smpp(self) -> Iterable[Any]:
        smpp = getattr(self.app, "smpp", None)
        if smpp is None:
            return
        stats = smpp.stats
        c = CounterMetricFamily(
            "pingjing_sms_outcomes",
            "Submit outcomes by status and reason",
            labels=["status", "reason"],
        )
        for key, n in sorted(stats.items()):
            if key.startswith("outcome_"):
                status = key[len("outcome_") :]
                failed = sum(v for k, v in stats.items() if k.startswith(f"reason_{status}:"))
                if n - failed:
                    c.add_metric([status, ""], n - failed)
            elif key.startswith("reason_"):
                status, _, reason = key[len("reason_") :].partition(":")
                c.add_metric([status, reason], n)
        yield c
        for name, key, text in (
            ("pingjing_sms_messages", "messages", "SMS handed to the SMPP client"),
            ("pingjing_submit_sm", "submit_sm", "submit_sm PDUs written"),
            ("pingjing_smsc_throttled", "throttled", "Throttling pauses the SMSC asked for"),
            ("pingjing_receipts", "receipts", "Delivery receipts received"),
            ("pingjing_replies", "replies", "Citizens' replies received"),
        ):
            yield CounterMetricFamily(name, text, value=stats.get(key, 0))
        tx = getattr(smpp, "_tx", None)
        window = GaugeMetricFamily(
            "pingjing_smpp_window", "submit_sm in flight / window size", labels=["what"]
        )
        window.add_metric(["in_flight"], float(getattr(tx, "outstanding", 0) if tx else 0))
        window.add_metric(["size"], float(smpp.settings.window))
        window.add_metric(["queued_parts"], float(smpp.queued))
        window.add_metric(["open_messages"], float(smpp.outstanding))
        yield window
        marks = getattr(smpp, "marks", None)
        if marks is not None and marks.enabled:
            ahead = GaugeMetricFamily(
                "pingjing_smpp_wire_marks",
                "SMS marked ahead of their first write (what a crash now leaves unknown), and "
                "how far they may run ahead",
                labels=["what"],
            )
            ahead.add_metric(["ahead"], float(marks.ahead))
            ahead.add_metric(["reach"], float(marks.allowance))
            yield ahead

    def _workers(self) -> Iterable[Any]:
        callbacks = getattr(self.app, "callbacks", None)
        if callbacks is not None:
            yield GaugeMetricFamily(
                "pingjing_calls_this_process",
                "Calls this process follows now",
                value=callbacks.active_calls,
            )
        amqp = getattr(self.app, "amqp", None)
        if amqp is not None:
            yield GaugeMetricFamily(
                "pingjing_amqp_consuming",
                "1 while events are taken from the queue",
                value=1.0 if amqp.consuming else 0.0,
            )

    def _depths(self) -> Iterable[Any]:
        d = self.depths
        if d is None:
            return
        outbox = GaugeMetricFamily(
            "pingjing_outbox", "Outbox SMS by status (all processes)", labels=["status"]
        )
        for status in ("queued", "submitting"):
            outbox.add_metric([status], float(d.outbox.get(status, 0)))
        yield outbox
        yield GaugeMetricFamily(
            "pingjing_outbox_oldest_due_seconds",
            "Age of the oldest queued SMS already due",
            value=d.oldest_due_seconds,
        )
        cb = GaugeMetricFamily(
            "pingjing_callback_tasks", "Callback tasks by status", labels=["status"]
        )
        for status, n in sorted(d.callbacks.items()):
            cb.add_metric([status], float(n))
        yield cb
        sv = GaugeMetricFamily("pingjing_surveys", "Surveys by status", labels=["status"])
        for status, n in sorted(d.surveys.items()):
            sv.add_metric([status], float(n))
        yield sv
        yield GaugeMetricFamily(
            "pingjing_calls_in_progress",
            "Calls in progress, all processes",
            value=d.calls_in_progress,
        )
        yield GaugeMetricFamily(
            "pingjing_replies_unprocessed",
            "Stored replies not yet acted on",
            value=d.replies_unprocessed,
        )
        yield GaugeMetricFamily(
            "pingjing_metrics_age_seconds",
            "Seconds since the database figures were read",
            value=self.clock.seconds() - (self.depths_at or self.clock.seconds()),
        )


class MetricsResource(Resource):
    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self.registry = registry

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode())
        return generate_latest(self.registry)


class HealthResource(Resource):
    """``/healthz``: the process answers (its reactor turns)."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"application/json")
        return b'{"status": "ok"}'


class ReadyResource(Resource):
    """``/readyz``: 200 when the database answers and an SMPP bind can transmit, else 503
    with the reasons."""

    isLeaf = True

    def __init__(self, collector: GatewayCollector) -> None:
        super().__init__()
        self.collector = collector

    def render_GET(self, request: Request) -> bytes:
        problems = self.collector.problems()
        request.setHeader(b"content-type", b"application/json")
        if problems:
            request.setResponseCode(503)
        body = {"status": "not ready" if problems else "ready", "problems": problems}
        return json.dumps(body, ensure_ascii=False).encode()


def ops_root(collector: GatewayCollector) -> Resource:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)  # type: ignore[arg-type]
    root = Resource()
    root.putChild(b"metrics", MetricsResource(registry))
    root.putChild(b"healthz", HealthResource())
    root.putChild(b"readyz", ReadyResource(collector))
    return root
