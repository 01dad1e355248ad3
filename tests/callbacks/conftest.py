"""Fixtures for the callback tests: a database on SQLite or PostgreSQL, seed rows, a fake AMI.

``SyncDatabase`` runs each transaction at once on the calling thread, so scheduler tests are
driven entirely by ``Clock.advance`` with no thread pool and no real time; one integration test
uses the real :class:`storage.db.Database`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import formatEvent, globalLogPublisher

from ivr.ami.api import CallEnded, CallOutcome, OriginateRequest
from storage.db import make_engine, make_session_factory, transaction
from storage.models import (
    Base,
    CallbackTask,
    OptOut,
    ServiceEvent,
    Survey,
    Unit,
)

T = TypeVar("T")


class SyncDatabase:
    """``Database.run`` without the thread pool: the same transaction, synchronously."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        Base.metadata.create_all(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.calls = 0

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
        self.calls += 1
        return maybeDeferred(self.run_sync, fn, *args, **kwargs)

    def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with transaction(self.sessions) as session:
            return fn(session, *args, **kwargs)

    def dispose(self) -> None:
        self.engine.dispose()


@pytest.fixture(autouse=True)
def no_logged_failures() -> Iterator[list[dict[str, Any]]]:
    """Fail any test during which the code logged a failure it did not expect (the test may
    clear the list after checking what it expected)."""
    failures: list[dict[str, Any]] = []

    def observe(event: dict[str, Any]) -> None:
        if "log_failure" in event:
            failures.append(event)

    globalLogPublisher.addObserver(observe)
    yield failures
    globalLogPublisher.removeObserver(observe)
    assert [formatEvent(e) + str(e["log_failure"].value) for e in failures] == []


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The store's SQL on both back-ends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'callbacks.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'callbacks.db'}"


@pytest.fixture
def db(sqlite_url: str) -> Iterator[SyncDatabase]:
    database = SyncDatabase(sqlite_url)
    yield database
    database.dispose()


@pytest.fixture
def any_db(any_url: str) -> Iterator[SyncDatabase]:
    database = SyncDatabase(any_url)
    yield database
    database.dispose()


# --- seed rows ---------------------------------------------------------------------------------

_seq = itertools.count(1)
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # Friday 10:00 in Shanghai


def add_unit(session: Any, code: str, parent: Unit | None = None) -> Unit:
    unit = Unit(code=code, name=f"单位{code}", kind="station", parent=parent)
    session.add(unit)
    session.flush()
    return unit


def add_task(
    session: Any,
    unit: Unit,
    phone: str = "13812345678",
    *,
    created_at: datetime = T0,
    trigger: str = "unsatisfied",
    status: str = "pending",
    next_attempt_at: datetime | None = None,
    replied_at: datetime | None = None,
) -> CallbackTask:
    n = next(_seq)
    event = ServiceEvent(
        event_id=f"EV{n:06d}",
        category="incident",
        unit_id=unit.id,
        citizen_phone=phone,
        occurred_at=created_at,
        source="demo",
    )
    session.add(event)
    session.flush()
    survey = Survey(
        event_id=event.id,
        unit_id=unit.id,
        category="incident",
        phone=phone,
        decision="selected",
        status="replied",
        rating="unsatisfied",
        replied_at=replied_at or created_at,
    )
    session.add(survey)
    session.flush()
    task = CallbackTask(
        survey_id=survey.id,
        unit_id=unit.id,
        phone=phone,
        trigger=trigger,
        status=status,
        next_attempt_at=next_attempt_at,
        created_at=created_at,
    )
    session.add(task)
    session.flush()
    return task


def opt_out(session: Any, phone: str) -> None:
    session.add(OptOut(phone=phone, source="sms"))


def write_ivr_result(
    session: Any,
    attempt_id: int,
    ended_how: str,
    *,
    reason_key: str | None = None,
    consent: bool | None = None,
    at: datetime = T0,
) -> None:
    """What the AGI script stores at the end of a conversation, through its own storage code
    (``storage.callback_results.write_result``)."""
    from ivr.flow import REASONS, CallResult
    from storage.callback_results import write_result

    result = CallResult(
        callback_id=None,
        attempt_id=attempt_id,
        confirmed=ended_how != "wrong_person",
        reason_key=reason_key,
        reason=REASONS.get(reason_key or ""),
        consent=consent,
        ended_how=ended_how,
        ended_at=at.isoformat(),
    )
    assert write_result(session, result)


# --- a fake AMI client -------------------------------------------------------------------------


@dataclass
class FakeHandle:
    request: OriginateRequest
    channel_id: str
    outcome: Deferred[CallOutcome] = field(default_factory=Deferred)
    ended: Deferred[CallEnded] = field(default_factory=Deferred)


class FakeAmi:
    """An in-process AMI client: records each originate; the test decides how each call goes."""

    def __init__(self) -> None:
        self.connected = True
        self.requests: list[OriginateRequest] = []
        self.handles: list[FakeHandle] = []
        self.refuse_with: Exception | None = None
        self.ready_observers: list = []
        # what Asterisk has up that this test wants counted: (attempt ids, untied channels)
        self.at_asterisk: tuple[frozenset[int], int] = (frozenset(), 0)

    def live_attempts(self) -> tuple[frozenset[int], int]:
        return self.at_asterisk

    def add_ready_observer(self, fn) -> None:
        self.ready_observers.append(fn)

    def link_back(self) -> None:
        """The link is usable again, as the real client says it."""
        self.connected = True
        for fn in self.ready_observers:
            fn()

    def originate_call(self, request: OriginateRequest) -> FakeHandle:
        self.requests.append(request)
        handle = FakeHandle(request, f"fake-{request.attempt_id}")
        self.handles.append(handle)
        if self.refuse_with is not None:
            handle.outcome.errback(self.refuse_with)
            handle.ended.callback(CallEnded(request.attempt_id, handle.channel_id, None, None))
        return handle

    def originate(self, request: OriginateRequest) -> Deferred[CallOutcome]:
        return self.originate_call(request).outcome

    def open_calls(self) -> list[FakeHandle]:
        return [h for h in self.handles if not h.outcome.called]

    def finish(self, handle: FakeHandle, result: str, reason: int | None = None) -> None:
        """Resolve the outcome; an unanswered call also ends at once, like the real client."""
        codes = {"answered": 4, "busy": 5, "congestion": 8, "no_answer": 3, "failed": 0}
        handle.outcome.callback(
            CallOutcome(
                attempt_id=handle.request.attempt_id,
                channel_id=handle.channel_id,
                result=result,  # type: ignore[arg-type]
                reason_code=codes[result] if reason is None else reason,
                hangup_cause=17 if result == "busy" else None,
            )
        )
        if result != "answered":
            self.hang_up(handle, cause=17 if result == "busy" else None)

    def hang_up(self, handle: FakeHandle, cause: int | None = 16) -> None:
        handle.ended.callback(CallEnded(handle.request.attempt_id, handle.channel_id, cause, None))


class OriginateOnlyAmi:
    """An AMI client with nothing but ``originate``: no hangup signal reaches the scheduler."""

    def __init__(self) -> None:
        self.inner = FakeAmi()

    def originate(self, request: OriginateRequest) -> Deferred[CallOutcome]:
        return self.inner.originate(request)
