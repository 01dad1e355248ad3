"""Engines, sessions and the one way the reactor reaches the database: a thread pool.

SQLAlchemy is blocking; the daemon never calls it on the reactor thread. ``Database.run`` hands a
function a session in a pool thread, commits when it returns and rolls back when it raises, and
gives the reactor a Deferred of the result.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from gateway.masking import redact_secrets

T = TypeVar("T")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """Create an engine with the settings pingjing relies on for either back-end."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 8)
    if url.startswith("postgresql"):
        # psycopg prepares a statement after its fifth run, and PostgreSQL may then switch to
        # a generic plan, made without the parameter values. Our batch statements bind a
        # whole batch as one array (1 to 2,000 ids); the generic plan guesses 10 and, on a
        # table without statistics yet, a nested loop over a sequential scan: 1.5 s instead
        # of 8 ms for 1,000 receipts at 15,000 parts. Plan every execution with its values.
        connect_args = kwargs.setdefault("connect_args", {})
        options = connect_args.get("options", "")
        connect_args["options"] = f"{options} -c plan_cache_mode=force_custom_plan".strip()
    return sa.create_engine(url, **kwargs)


class DatabaseUnreachableError(Exception):
    """The database cannot be reached; the message names it (password redacted) and says why."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = redact_secrets(url)
        self.reason = redact_secrets(reason, [_password(url)])
        super().__init__(f"cannot reach the database {self.url}: {self.reason}")


def _password(url: str) -> str:
    try:
        return sa.engine.make_url(url).password or ""
    except sa.exc.ArgumentError:
        return ""


def probe(url: str) -> None:
    """Connect once; raise :class:`DatabaseUnreachableError` when that fails (server down,
    wrong password, SQLite file that cannot be opened)."""
    engine = make_engine(url)
    try:
        with engine.connect():
            pass
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        orig = exc.orig if exc.orig is not None else exc
        lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
        raise DatabaseUnreachableError(url, "; ".join(lines) or type(orig).__name__) from None
    finally:
        engine.dispose()


def make_session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any exception."""
    with factory() as session, session.begin():
        yield session


class Database:
    """The daemon's handle on storage: blocking work runs in a dedicated thread pool."""

    def __init__(self, url: str, *, reactor: Any = None, threads: int = 4) -> None:
        from twisted.python.threadpool import ThreadPool

        self.url = url
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine)
        self._pool = ThreadPool(minthreads=1, maxthreads=threads, name="pingjing-db")
        # one thread for short transactions on the send path (wire marks), never queued
        # behind the batches on the shared pool
        self._urgent = ThreadPool(minthreads=1, maxthreads=1, name="pingjing-db-urgent")
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self._reactor = reactor
        self._started = False
        self._stopped = False
        self._statements: Any = None  # the urgent thread's own connection (run_statement)
        #: Called on the pool thread with each transaction's duration in seconds (metrics).
        self.on_transaction: Callable[[float], None] | None = None

    def start(self) -> None:
        if self._stopped:
            # A stopped ThreadPool cannot be restarted; say so instead of Twisted's AlreadyQuit.
            raise RuntimeError(f"database work requested after shutdown ({self.engine.url!r})")
        if not self._started:
            self._pool.start()
            self._urgent.start()
            self._started = True

    def stop(self) -> None:
        if self._started:
            self._pool.stop()
            self._urgent.stop()
            self._started = False
            self._stopped = True
        self._drop_statements()
        self.engine.dispose()

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(session, *args, **kwargs)`` in one transaction on a pool thread."""
        return self._on(self._pool, self._in_transaction, fn, *args, **kwargs)

    def run_urgent(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Any:
        """As :meth:`run`, on a thread of its own: for short transactions that something
        waits on (a submit_sm is written only once its wire mark has committed)."""
        return self._on(self._urgent, self._in_transaction, fn, *args, **kwargs)

    def run_statement(self, sql: str, params: tuple[Any, ...]) -> Any:
        """Run one driver-level statement that commits by itself (autocommit), on the urgent
        thread and a connection kept for it; a Deferred of the rows it changed.

        For the send path's one-statement writes (wire marks): one round trip, where a
        transaction through a session takes four (the pool's ping at checkout, BEGIN, the
        statement, COMMIT) and the ORM's bookkeeping around them. A connection the database
        dropped fails its statement and is replaced at the next one.
        """
        return self._on(self._urgent, self._autocommit, sql, params)

    def _on(self, pool: Any, work: Callable[..., T], *args: Any, **kwargs: Any) -> Any:
        """``work(*args, **kwargs)`` on ``pool``, its duration told to ``on_transaction``."""
        from twisted.internet.threads import deferToThreadPool

        self.start()
        observe = self.on_transaction

        def timed() -> T:
            started = time.perf_counter()
            try:
                return work(*args, **kwargs)
            finally:
                if observe is not None:
                    observe(time.perf_counter() - started)

        return deferToThreadPool(self._reactor, pool, timed)

    def _in_transaction(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with transaction(self.sessions) as session:
            return fn(session, *args, **kwargs)

    def _autocommit(self, sql: str, params: tuple[Any, ...]) -> int:
        if self._statements is None:
            raw = self.engine.raw_connection()
            raw.driver_connection.autocommit = True
            self._statements = raw
        try:
            return self._statements.driver_connection.execute(sql, params).rowcount
        except Exception:
            self._drop_statements()
            raise

    def _drop_statements(self) -> None:
        raw, self._statements = self._statements, None
        if raw is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to release
                raw.invalidate()  # not back into the pool: it is in autocommit mode

    def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """The same transaction, on the calling thread (command-line tools, scripts)."""
        with transaction(self.sessions) as session:
            return fn(session, *args, **kwargs)
