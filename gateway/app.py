"""``make_service(settings)``: the daemon as a tree of Twisted services.

Start-up order is the tree's order: the database pool first, then the links to peers, then the
workers that use them, then the HTTP API. Stopping runs in reverse, so workers stop taking new work
before the links they use close.

Two clocks: ``reactor`` drives the wire (SMPP and AMI timeouts, reconnects) and ``clock`` drives
business time (sending hours, reply windows, calling windows, retry delays). They are the same in
production; the demo compresses business time and leaves the wire in real time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.application import strports
from twisted.application.internet import TimerService
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from gateway.config import Settings
from storage.db import Database
from storage.events_store import SqlEventStore

log = Logger()


class DatabaseService(Service):
    """Owns the database thread pool for the life of the daemon."""

    name = "database"

    def __init__(self, db: Database) -> None:
        self.db = db

    def startService(self) -> None:
        super().startService()
        self.db.start()

    def stopService(self) -> None:
        super().stopService()
        self.db.stop()


class Pingjing(MultiService):
    """The daemon. Its parts are attributes so that tools (the demo, tests) can reach them.

    ``MultiService`` stops its children all at once; the database must outlive every worker's
    last transaction, so it is stopped only after the others have finished stopping.
    """

    db: Database
    smpp: Any
    surveys: Any
    intake: Any
    ami: Any
    callbacks: Any
    amqp: Any = None
    http: Any = None
    user_tokens: Any = None
    reports: Any = None
    ops: Any = None

    def stopService(self) -> Any:
        from twisted.internet import defer

        Service.stopService(self)
        database = [s for s in self if isinstance(s, DatabaseService)]
        others = [s for s in reversed(list(self)) if s not in database]
        stopping = defer.DeferredList(
            [defer.maybeDeferred(s.stopService) for s in others], consumeErrors=True
        )

        def stop_database(results: Any) -> Any:
            for ok, failure in results:
                if not ok:
                    log.failure("stopping a service failed", failure)
            return defer.DeferredList([defer.maybeDeferred(s.stopService) for s in database])

        return stopping.addCallback(stop_database)


def ensure_schema(url: str, source: str) -> None:
    from storage import migrate
    from storage.db import DatabaseUnreachableError, probe

    try:
        probe(url)
    except DatabaseUnreachableError as exc:
        raise SystemExit(f"pingjing: {exc}") from None
    if not migrate.is_up_to_date(url):
        raise SystemExit(
            f"pingjing: the database schema is not current; run "
            f"`pingjing db upgrade --config {source}` first"
        )


def make_api_site(app: Pingjing, settings: Settings) -> Any:
    """The HTTP API over ``app``'s intake and database: events in, callbacks and recordings out."""
    from gateway.http.api import build_api, make_site
    from gateway.http.auth import UserTokenIndex, combined_authenticator
    from gateway.http.callbacks import callback_api
    from storage.api_store import SqlApiStore
    from storage.registry_store import SqlEventRegistry
    from storage.user_store import SqlUserStore

    app.user_tokens = UserTokenIndex(SqlUserStore(app.db))
    authenticate = combined_authenticator(settings.http.tokens, app.user_tokens)
    root, v1 = build_api(
        intake=app.intake,
        authenticate=authenticate,
        registry=SqlEventRegistry(app.db),
        max_body_bytes=settings.http.max_body_bytes,
    )
    recordings = str(settings.ivr.recordings_path(settings.data_dir))
    for name, resource in callback_api(
        SqlApiStore(app.db), authenticate, settings.service.zone, recordings
    ).items():
        v1.putChild(name, resource)
    from gateway.http.cases import CasesResource
    from storage.case_store import SqlCaseStore

    evidence = str(Path(settings.data_dir) / "evidence")
    cases = CasesResource(
        SqlCaseStore(app.db, settings.cases), authenticate, settings.cases, evidence
    )
    v1.putChild(b"cases", cases)
    from gateway.http.ladder import LadderResource
    from storage.ladder_store import SqlLadderStore

    v1.putChild(
        b"ladder",
        LadderResource(SqlLadderStore(app.db, settings.cases), authenticate, settings.cases),
    )
    from gateway.http.manual_callbacks import ManualCallbacksResource
    from storage.manual_calls import SqlManualCallbacks

    manual = ManualCallbacksResource(
        SqlManualCallbacks(app.db, settings.cases), authenticate, settings.cases
    )
    v1.putChild(b"manual-callbacks", manual)
    v1.putChild(b"reports", report_resources(app, settings, authenticate))
    if not settings.http.tokens:
        log.warn("http: no API tokens in the configuration; only users' tokens will be accepted")
    root.putChild(b"console", make_console(app, settings, recordings, cases, manual.store))
    return make_site(root)


def _sweep_unreachable(db: Any, cases: Any, clock: Any) -> Any:
    """Hourly: manual callbacks unanswered for ``[cases] unreachable_after_days`` are marked
    unreachable (gateway/callbacks/manual.py)."""
    from datetime import UTC, datetime

    from storage.manual_calls import sweep_unreachable

    now = datetime.fromtimestamp(clock.seconds(), UTC)
    d = db.run(sweep_unreachable, now, cases)

    def report(marked: list[int]) -> None:
        if marked:
            log.info("{n} manual callbacks marked unreachable", n=len(marked))

    d.addCallback(report)
    d.addErrback(lambda f: log.failure("marking unreachable callbacks failed", f))
    return d


def _reload_user_tokens(index: Any) -> Any:
    d = index.reload()
    d.addErrback(lambda f: log.failure("loading users' API tokens failed", f))
    return d


def report_resources(app: Any, settings: Settings, authenticate: Any) -> Any:
    from gateway.http.reports import ReportApi, report_api
    from gateway.reports.settings import ReportSettings
    from storage.report_store import SqlReportStore

    reports = getattr(settings, "reports", None) or ReportSettings()
    app.report_api = ReportApi(app.db, SqlReportStore(), reports, authenticate)  # the console too
    return report_api(app.report_api)


def make_console(
    app: Any, settings: Settings, recordings: str | None, cases: Any = None, manual: Any = None
) -> Any:
    """The supervisors' web console at ``/console``, over the same database and unit rules.

    Its users are the user accounts (``pingjing users``), unless ``app.console_users`` holds
    another ``gateway.console.users.UserDirectory``.
    """
    from gateway.console.accounts import AccountDirectory
    from gateway.console.site import console_resource
    from gateway.console.web import Console
    from storage.console_store import SqlConsoleStore
    from storage.user_store import SqlUserStore

    users = getattr(app, "console_users", None)
    if users is None:
        users = AccountDirectory(SqlUserStore(app.db))
    clock = getattr(app, "reactor", None)
    if clock is None:
        from twisted.internet import reactor as clock
    console = Console(SqlConsoleStore(app.db), users, settings.service.zone, clock, recordings)
    console.reports = getattr(app, "report_api", None)  # the API's reports: the same checks
    if cases is not None:  # the API's case resource: the same store, settings, evidence files
        console.cases = cases.store
        console.case_settings = cases.settings
        console.evidence_path = cases.evidence_path
    console.manual_callbacks = manual  # the API's manual callbacks service: the same checks
    app.console = console
    return console_resource(console)


def spool_ingester(
    db: Any, directory: str, survey: Any = None, cases: Any = None
) -> Callable[[], Deferred[Any]]:
    """The ``ingest_spool`` argument for a real ``storage.db.Database``: runs
    ``ivr.spool.ingest_spool`` (blocking, one transaction per file) on the database threads
    and logs what it found."""
    log = Logger(namespace="gateway.callbacks.spool")

    def report(result: Any) -> Any:
        if result.ingested or result.bad:
            log.info(
                "AGI spool: {ingested} results stored, {duplicates} duplicates, "
                "{bad} unreadable files moved to bad/",
                ingested=len(result.ingested),
                duplicates=len(result.duplicates),
                bad=len(result.bad),
            )
        return result

    def ingest() -> Deferred[Any]:
        from ivr.spool import ingest_spool
        from storage.callback_results import session_writer

        write = session_writer(db.sessions)
        d = db.run(lambda _session: ingest_spool(directory, write)).addCallback(report)
        if survey is not None:  # calls to the evaluation line spooled while the DB was down
            d.addCallback(
                lambda first: db.run(lambda _session: ingest_lines()).addCallback(lambda _: first)
            )
        return d

    def ingest_lines() -> Any:
        from ivr.inbound_spool import ingest_line_spool
        from storage.inbound_results import session_inbound_writer

        result = ingest_line_spool(directory, session_inbound_writer(db.sessions, survey, cases))
        if result.ingested or result.bad:
            log.info(
                "evaluation line spool: {ingested} calls stored, {bad} unreadable moved to bad/",
                ingested=len(result.ingested),
                bad=len(result.bad),
            )
        return result

    return ingest


def make_report_scheduler(app: Pingjing, settings: Settings, reactor: Any, clock: Any) -> Any:
    """The report schedule (``[reports]``), or None when ``reports.schedule`` is off."""
    from pathlib import Path

    from gateway.reports.delivery import Deliverer
    from gateway.reports.service import ReportScheduler
    from gateway.reports.settings import ReportSettings
    from storage.report_store import SqlReportStore

    reports = getattr(settings, "reports", None) or ReportSettings()
    if not reports.schedule:
        return None
    directory = Path(reports.archive_dir or settings.data_dir / "reports")
    scheduler = ReportScheduler(
        app.db, SqlReportStore(), reports, clock, directory, Deliverer(reports, reactor)
    )
    scheduler.setServiceParent(app)
    return scheduler


def trunk_lines(settings: Settings) -> Callable[[], Any] | None:
    """Callbacks hold one of the trunk lines they share with the evaluation line's callers
    (``[ivr] trunk_lines``; 0: the trunk is not counted)."""
    count = settings.ivr.trunk_lines
    if count <= 0:
        return None
    from ivr.lines import TRUNK, LinePool

    pool = LinePool(str(settings.ivr.lines_path(settings.data_dir)), TRUNK, count)
    return pool.take


def warn_calendar(settings: Settings, clock: Any) -> None:
    """Say at start-up when case deadlines may fall in a year the holiday calendar lacks."""
    from datetime import datetime

    from gateway.cases.calendar import coverage_warning

    cases = settings.cases
    today = datetime.fromtimestamp(clock.seconds(), cases.zone).date()
    message = coverage_warning(cases.calendar(), today)
    if message:
        log.warn(message)


def make_service(settings: Settings, *, reactor: Any = None, clock: Any = None) -> Pingjing:
    from gateway.amqp.consumer import EventConsumer
    from gateway.callbacks.scheduler import CallbackScheduler
    from gateway.smpp.service import SmppService
    from gateway.surveys.intake import EventIntake
    from gateway.surveys.pipeline import SurveyPipeline
    from ivr.ami.client import AmiClient
    from storage.callback_store import SqlCallbackStore
    from storage.sms_store import SqlSmsStore
    from storage.survey_store import SqlSurveyStore

    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = default_reactor
    clock = clock or reactor
    url = settings.database_url
    ensure_schema(url, settings.source)

    warn_calendar(settings, clock)
    app = Pingjing()
    app.db = Database(url, reactor=reactor, threads=settings.database.threads)
    DatabaseService(app.db).setServiceParent(app)

    app.smpp = SmppService(
        settings.smpp,
        SqlSmsStore(app.db),
        clock=reactor,
        business_clock=clock,
        instance=settings.service.instance_name,
    )
    app.smpp.setServiceParent(app)
    app.ami = AmiClient(settings.ami, reactor)
    app.ami.setServiceParent(app)

    instance = settings.service.instance_name
    app.surveys = SurveyPipeline(
        app.db,
        app.smpp,
        settings.survey,
        store=SqlSurveyStore(getattr(settings, "cases", None)),
        clock=clock,
        instance=instance,
    )
    app.surveys.settle_in_sms_store(app.smpp.store)
    app.surveys.setServiceParent(app)
    app.intake = EventIntake(
        app.db, settings.survey, store=SqlEventStore(), clock=clock, on_queued=app.surveys.kick
    )
    if settings.amqp.enabled:
        intake = app.intake
        app.amqp = EventConsumer(
            settings.amqp, lambda body: intake.ingest_body(body, "amqp"), reactor=reactor
        )
        app.amqp.setServiceParent(app)
        app.smpp.add_availability_observer(app.amqp.set_available)

    spool = str(settings.ivr.spool_path(settings.data_dir))
    app.callbacks = CallbackScheduler(
        app.db,
        app.ami,
        settings.callbacks,
        clock,
        store=SqlCallbackStore(settings.cases),
        worker=settings.callbacks.worker or instance,
        ingest_spool=spool_ingester(app.db, spool, settings.survey, settings.cases),
        take_line=trunk_lines(settings),
    )
    app.callbacks.setServiceParent(app)
    app.surveys.callback_observers.append(app.callbacks.wake)
    app.reports = make_report_scheduler(app, settings, reactor, clock)
    unreachable = TimerService(3600, _sweep_unreachable, app.db, settings.cases, clock)
    unreachable.clock = clock
    unreachable.setName("manual-unreachable")
    unreachable.setServiceParent(app)

    if settings.http.enabled and settings.http.ops_endpoint:
        from gateway.ops.metrics import GatewayCollector
        from gateway.ops.service import OpsService
        from storage.ops_store import read_depths

        collector = GatewayCollector(app, read_depths, instance=instance, clock=reactor)
        app.db.on_transaction = collector.latency.observe
        app.ops = OpsService(settings.http.ops_endpoint, collector, reactor=reactor)
        app.ops.setServiceParent(app)

    if settings.http.enabled:
        site = make_api_site(app, settings)
        from gateway.console.trend import REFRESH_SECONDS, refresh_trend

        # the dashboard trend's earlier months for every unit, off the request path
        trend = TimerService(REFRESH_SECONDS, refresh_trend, app.console)
        trend.clock = clock
        trend.setName("console-trend")
        trend.setServiceParent(app)
        # users' tokens are loaded before the API listens, then refreshed
        refresh = TimerService(
            settings.http.user_tokens_refresh, _reload_user_tokens, app.user_tokens
        )
        refresh.setName("user-tokens")
        refresh.setServiceParent(app)
        app.http = strports.service(settings.http.endpoint, site, reactor=reactor)
        app.http.setName("http")
        app.http.setServiceParent(app)
    return app
