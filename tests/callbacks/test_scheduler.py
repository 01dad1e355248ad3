"""The scheduler driven by a Clock, a synchronous database and an in-process fake AMI client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet.task import Clock

from gateway.callbacks.scheduler import CallbackScheduler
from gateway.callbacks.settings import CallbackSettings
from ivr.ami.api import AmiNotConnectedError, AmiTimeoutError
from storage.callback_store import SqlCallbackStore
from storage.models import CallAttempt, CallbackTask
from tests.callbacks.conftest import (
    T0,
    FakeAmi,
    OriginateOnlyAmi,
    SyncDatabase,
    add_task,
    add_unit,
    opt_out,
    write_ivr_result,
)

S = CallbackSettings()
MINUTE = 60.0
HOUR = 3600.0


@pytest.fixture
def clock() -> Clock:
    c = Clock()
    c.advance(T0.timestamp())  # Friday 2026-11-27 10:00 Asia/Shanghai
    return c


@pytest.fixture
def ami() -> FakeAmi:
    return FakeAmi()


class World:
    def __init__(self, db: SyncDatabase, ami: Any, clock: Clock) -> None:
        self.db, self.ami, self.clock = db, ami, clock
        self.schedulers: list[CallbackScheduler] = []

    def seed(self, n: int = 1, **kw: Any) -> list[int]:
        def go(session: sa.orm.Session) -> list[int]:
            unit = add_unit(session, f"U{len(self.schedulers)}-{n}-{self.clock.seconds()}")
            return [add_task(session, unit, f"1381234{i:04d}", **kw).id for i in range(n)]

        return self.db.run_sync(go)

    def start(self, settings: CallbackSettings = S, **kw: Any) -> CallbackScheduler:
        kw.setdefault("worker", "test-worker")
        scheduler = CallbackScheduler(
            self.db, self.ami, settings, self.clock, store=SqlCallbackStore(), **kw
        )
        scheduler.startService()
        self.schedulers.append(scheduler)
        self.clock.advance(0)
        return scheduler

    def task(self, task_id: int) -> CallbackTask:
        return self.db.run_sync(lambda s: s.get(CallbackTask, task_id))

    def attempts(self, task_id: int) -> list[CallAttempt]:
        return self.db.run_sync(
            lambda s: list(
                s.scalars(
                    sa.select(CallAttempt)
                    .where(CallAttempt.callback_id == task_id)
                    .order_by(CallAttempt.attempt_number)
                )
            )
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def advance_to(self, at: datetime) -> None:
        self.clock.advance((at - self.now()).total_seconds())


@pytest.fixture
def world(db: SyncDatabase, ami: FakeAmi, clock: Clock) -> Iterator[World]:
    w = World(db, ami, clock)
    yield w
    for scheduler in w.schedulers:
        if scheduler.running:
            scheduler.stopService()


def test_busy_then_answered_on_retry(world: World, ami: FakeAmi) -> None:
    """Busy at 10:00 is retried at 10:30; the answered retry completes with the IVR's answers."""
    (tid,) = world.seed()
    world.start()
    (first,) = ami.handles
    assert (first.request.number, first.request.ask_rating) == ("13812340000", False)
    ami.finish(first, "busy")
    assert world.task(tid).status == "pending"
    world.clock.advance(30 * MINUTE - 1)
    assert len(ami.handles) == 1
    world.clock.advance(1)
    second = ami.handles[1]
    ami.finish(second, "answered")
    assert world.task(tid).status == "in_progress"
    world.db.run_sync(
        write_ivr_result, second.request.attempt_id, "completed", reason_key="3", consent=False
    )
    ami.hang_up(second)
    t = world.task(tid)
    assert (t.status, t.attempts, t.reason_key, t.consent) == ("completed", 2, "3", False)
    assert [(a.outcome, a.channel_id) for a in world.attempts(tid)] == [
        ("busy", f"fake-{first.request.attempt_id}"),
        ("answered", f"fake-{second.request.attempt_id}"),
    ]


def test_no_answer_three_times_goes_manual(world: World, ami: FakeAmi) -> None:
    """No answer at 10:00, 10:30 and (12:30 falls in lunch) 14:00: then manual."""
    (tid,) = world.seed()
    world.start()
    ami.finish(ami.handles[0], "no_answer")
    world.clock.advance(30 * MINUTE)
    ami.finish(ami.handles[1], "no_answer")
    world.advance_to(T0 + timedelta(hours=2, minutes=30))  # 12:30 local
    assert len(ami.handles) == 2
    world.advance_to(T0 + timedelta(hours=4))  # 14:00 local
    assert len(ami.handles) == 3
    ami.finish(ami.handles[2], "no_answer")
    world.clock.advance(10 * HOUR)
    assert len(ami.handles) == 3
    t = world.task(tid)
    assert (t.status, t.attempts, t.next_attempt_at) == ("manual", 3, None)
    assert [a.started_at for a in world.attempts(tid)] == [
        T0,
        T0 + timedelta(minutes=30),
        T0 + timedelta(hours=4),
    ]


def test_opted_out_number_is_never_called(world: World, ami: FakeAmi) -> None:
    """A task whose number opted out is closed as opted_out and never originated."""
    (tid,) = world.seed()
    world.db.run_sync(opt_out, "13812340000")
    world.start()
    world.clock.advance(2 * HOUR)
    assert ami.requests == []
    assert world.task(tid).status == "opted_out"


def test_no_calls_outside_the_window(world: World, ami: FakeAmi, clock: Clock) -> None:
    """A task created at 20:30 waits until 09:00 the next morning."""
    evening = T0 + timedelta(hours=10, minutes=30)  # 20:30 local
    world.advance_to(evening)
    world.seed(created_at=evening)
    world.start()
    world.advance_to(T0 + timedelta(hours=22, minutes=59))  # 08:59 Saturday
    assert ami.requests == []
    clock.advance(MINUTE)
    assert len(ami.requests) == 1


def test_concurrency_limit(world: World, ami: FakeAmi) -> None:
    """At most four calls at once; an answered call holds its line until it hangs up."""
    world.seed(6)
    scheduler = world.start()
    assert len(ami.handles) == 4
    ami.finish(ami.handles[0], "answered")
    world.clock.advance(MINUTE)
    assert (len(ami.handles), scheduler.active_calls) == (4, 4)
    ami.finish(ami.handles[1], "busy")
    world.clock.advance(0)
    assert len(ami.handles) == 5
    ami.hang_up(ami.handles[0])
    world.clock.advance(0)
    assert len(ami.handles) == 6
    assert scheduler.active_calls == 4


def test_concurrency_limit_is_configurable(world: World, ami: FakeAmi) -> None:
    """With max_concurrent=1 calls are placed one after the other."""
    world.seed(3)
    world.start(CallbackSettings(max_concurrent=1))
    assert len(ami.handles) == 1
    ami.finish(ami.handles[0], "congestion")
    world.clock.advance(0)
    assert len(ami.handles) == 2


def test_overdue_flag(world: World, ami: FakeAmi) -> None:
    """A task not attempted within first_attempt_within is flagged overdue, and still called."""
    evening = T0 + timedelta(hours=10, minutes=30)  # 20:30 local, window closed
    world.advance_to(evening)
    (tid,) = world.seed(created_at=evening)
    world.start(CallbackSettings(first_attempt_within_hours=1))
    world.clock.advance(59 * MINUTE)
    assert world.task(tid).overdue is False
    world.clock.advance(2 * MINUTE)
    assert world.task(tid).overdue is True
    world.advance_to(T0 + timedelta(hours=23))  # 09:00 Saturday
    assert len(ami.requests) == 1
    assert world.task(tid).overdue is True


def test_claim_of_crashed_process_recovered_at_start(
    world: World, db: SyncDatabase, clock: Clock
) -> None:
    """A process dies mid-call; the restarted one recovers its claim at once, counts the
    attempt as unknown, and calls again after the retry delay."""
    (tid,) = world.seed()
    first = world.start()
    assert world.task(tid).status == "in_progress"
    first.stopService()  # the crash: the call never reports back
    clock.advance(5 * MINUTE)
    fresh = FakeAmi()
    world.ami = fresh
    world.start()
    t = world.task(tid)
    assert (t.status, t.attempts, t.claimed_by) == ("pending", 1, None)
    assert [a.outcome for a in world.attempts(tid)] == ["unknown"]
    assert fresh.requests == []
    clock.advance(30 * MINUTE)
    assert len(fresh.requests) == 1
    assert world.task(tid).attempts == 2


def test_other_process_claim_recovered_when_lease_expires(world: World, clock: Clock) -> None:
    """Another worker's stale claim is recovered only after its lease expires."""
    (tid,) = world.seed()
    crashed = world.start(worker="other-host")
    crashed.stopService()
    world.ami = FakeAmi()
    world.start(worker="this-host")
    assert world.task(tid).status == "in_progress"
    clock.advance(S.claim_lease.total_seconds() - MINUTE)
    assert world.task(tid).claimed_by == "other-host"
    clock.advance(2 * MINUTE)
    t = world.task(tid)
    assert (t.status, t.attempts, t.claimed_by) == ("pending", 1, None)
    assert [a.outcome for a in world.attempts(tid)] == ["unknown"]
    clock.advance(30 * MINUTE)
    assert len(world.ami.requests) == 1
    assert world.task(tid).claimed_by == "this-host"


def test_result_from_spool_after_hangup(world: World, ami: FakeAmi) -> None:
    """An answered call that hangs up before its result is in the database is completed as
    soon as the spool ingest brings the result."""
    (tid,) = world.seed()
    spooled: list[int] = []

    def ingest() -> int:
        for attempt_id in spooled:
            world.db.run_sync(write_ivr_result, attempt_id, "completed", reason_key="5")
        n = len(spooled)
        spooled.clear()
        return n

    world.start(ingest_spool=ingest)
    handle = ami.handles[0]
    ami.finish(handle, "answered")
    spooled.append(handle.request.attempt_id)
    ami.hang_up(handle)
    world.clock.advance(0)
    t = world.task(tid)
    assert (t.status, t.reason_key) == ("completed", "5")


def test_missing_result_is_retried_after_grace(world: World, ami: FakeAmi) -> None:
    """No IVR result within result_grace after the hangup: the attempt counts, retry later."""
    (tid,) = world.seed()
    world.start()
    ami.finish(ami.handles[0], "answered")
    ami.hang_up(ami.handles[0])
    world.clock.advance(S.result_grace.total_seconds() + MINUTE)
    t = world.task(tid)
    assert (t.status, t.attempts) == ("pending", 1)
    assert t.next_attempt_at is not None


def test_ami_down_pauses_and_does_not_count(world: World, ami: FakeAmi) -> None:
    """While AMI is disconnected nothing is claimed; a call refused as not connected is put
    back without counting an attempt."""
    (tid,) = world.seed()
    ami.connected = False
    scheduler = world.start()
    world.clock.advance(5 * MINUTE)
    assert ami.requests == []
    ami.connected = True
    ami.refuse_with = AmiNotConnectedError("AMI is not connected")
    scheduler.wake()
    world.clock.advance(0)
    assert len(ami.requests) == 1
    t = world.task(tid)
    assert (t.status, t.attempts) == ("pending", 0)
    ami.refuse_with = None
    world.clock.advance(S.not_connected_backoff.total_seconds())
    assert len(ami.requests) == 2
    assert world.task(tid).attempts == 1


def test_originate_timeout_counts_as_unknown(world: World, ami: FakeAmi) -> None:
    """An originate whose fate is unknown (action timeout) counts and is retried."""
    (tid,) = world.seed()
    ami.refuse_with = AmiTimeoutError("no reply")
    world.start()
    t = world.task(tid)
    assert (t.status, t.attempts) == ("pending", 1)
    assert [a.outcome for a in world.attempts(tid)] == ["unknown"]


def test_invalid_number_goes_manual(world: World, ami: FakeAmi) -> None:
    """A number the dialler refuses is sent to manual, not retried."""
    (tid,) = world.seed()
    ami.refuse_with = ValueError("dial number must be digits")
    world.start()
    assert world.task(tid).status == "manual"


def test_originate_only_client_holds_line_until_result(clock: Clock, db: SyncDatabase) -> None:
    """With a client offering only ``originate``, an answered call keeps its line until its
    IVR result is applied."""
    only = OriginateOnlyAmi()
    w = World(db, only, clock)
    (tid,) = w.seed()
    scheduler = w.start()
    handle = only.inner.handles[0]
    only.inner.finish(handle, "answered")
    clock.advance(MINUTE)
    assert scheduler.active_calls == 1
    db.run_sync(write_ivr_result, handle.request.attempt_id, "no_input")
    clock.advance(S.poll_interval.total_seconds())
    assert scheduler.active_calls == 0
    assert w.task(tid).status == "no_input"
    scheduler.stopService()


def test_wake_picks_up_new_task_at_once(world: World, ami: FakeAmi) -> None:
    """A task created while idle is called on wake(), not only at the next poll."""
    scheduler = world.start()
    world.seed()
    scheduler.wake()
    world.clock.advance(0)
    assert len(ami.requests) == 1


def test_stop_cancels_timers(world: World, clock: Clock) -> None:
    """A stopped scheduler leaves no pending timer behind."""
    scheduler = world.start()
    assert clock.getDelayedCalls()
    scheduler.stopService()
    assert clock.getDelayedCalls() == []


class FlakyDatabase:
    """A database that is down for the first ``failures`` transactions."""

    def __init__(self, inner: SyncDatabase, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from twisted.internet.defer import fail

        if self.failures > 0:
            self.failures -= 1
            return fail(sa.exc.OperationalError("SELECT", {}, Exception("database is down")))
        return self.inner.run(fn, *args, **kwargs)


def test_database_down_is_logged_and_retried(
    db: SyncDatabase, ami: FakeAmi, clock: Clock, no_logged_failures: list[Any]
) -> None:
    """While the database is down no call is placed and the failure is logged; once it is
    back, the next poll places the call."""
    w = World(db, ami, clock)
    w.seed()
    flaky = FlakyDatabase(db, failures=2)
    scheduler = CallbackScheduler(flaky, ami, S, clock, store=SqlCallbackStore(), worker="w")
    scheduler.startService()
    clock.advance(0)
    assert ami.requests == []
    assert len(no_logged_failures) == 2
    no_logged_failures.clear()
    clock.advance(S.poll_interval_seconds)
    assert len(ami.requests) == 1
    scheduler.stopService()


def test_non_response_sample_is_called(world: World, ami: FakeAmi) -> None:
    """With a non-response share, an expired unanswered survey gets a callback task that is
    dialled like any other."""
    from storage.models import Survey

    def expired(session: sa.orm.Session) -> int:
        t = add_task(session, add_unit(session, "NR"), "13700001111")
        survey = session.get(Survey, t.survey_id)
        survey.status, survey.replied_at = "expired", None
        survey.expires_at = T0 - timedelta(minutes=5)
        session.delete(t)
        return survey.id

    survey_id = world.db.run_sync(expired)
    world.start(CallbackSettings(non_response_share=1.0))
    assert [(r.number, r.ask_rating) for r in ami.requests] == [("13700001111", True)]
    task = world.db.run_sync(
        lambda s: s.scalars(
            sa.select(CallbackTask).where(CallbackTask.survey_id == survey_id)
        ).one()
    )
    assert (task.trigger, task.status) == ("non_response", "in_progress")


def test_due_task_at_lunch_waits_for_the_afternoon(world: World, ami: FakeAmi) -> None:
    """A task due during the lunch break wakes the scheduler at the poll interval, not in a
    tight loop, and is called at 14:00."""
    lunch = T0 + timedelta(hours=2, minutes=15)  # 12:15 local
    world.advance_to(lunch)
    world.seed(next_attempt_at=lunch - timedelta(minutes=5))
    world.start()
    (timer,) = world.clock.getDelayedCalls()
    assert timer.getTime() - world.clock.seconds() == S.poll_interval_seconds
    world.advance_to(T0 + timedelta(hours=4) - timedelta(seconds=1))
    assert ami.requests == []
    world.clock.advance(1)
    assert len(ami.requests) == 1


def test_future_task_wakes_exactly_when_due(world: World, ami: FakeAmi) -> None:
    """With a long poll interval the timer still fires exactly at the next due time."""
    world.seed(next_attempt_at=T0 + timedelta(minutes=7))
    world.start(CallbackSettings(poll_interval_seconds=3600))
    (timer,) = world.clock.getDelayedCalls()
    assert timer.getTime() == (T0 + timedelta(minutes=7)).timestamp()
    world.clock.advance(7 * MINUTE)
    assert len(ami.requests) == 1


def test_spooled_result_is_ingested_and_closes_the_task(
    world: World, ami: FakeAmi, tmp_path: Any
) -> None:
    """Database down during the call: the AGI script spooled its result (the real spool
    format); after the hangup the scheduler ingests it, stores the recording and closes the
    task."""
    from gateway.app import spool_ingester
    from ivr.flow import CallResult, RecordingInfo
    from ivr.spool import pending_files, write_spool
    from storage.models import Recording

    (tid,) = world.seed()
    spool = tmp_path / "agi-spool"
    world.start(ingest_spool=spool_ingester(world.db, str(spool)))
    handle = ami.handles[0]
    ami.finish(handle, "answered")
    result = CallResult(
        callback_id=tid,
        attempt_id=handle.request.attempt_id,
        channel_id=handle.channel_id,
        confirmed=True,
        reason_key="4",
        reason="operational_error",
        recording=RecordingInfo("/rec/a.wav", 12.5, 100_044, "ab" * 32, partial=True),
        consent=True,
        ended_how="hangup",
    )
    write_spool(spool, result)
    ami.hang_up(handle)
    world.clock.advance(0)
    assert pending_files(spool) == []
    t = world.task(tid)
    assert (t.status, t.reason_key, t.consent) == ("completed", "4", True)
    rec = world.db.run_sync(lambda s: s.scalars(sa.select(Recording)).one())
    assert (rec.path, rec.partial, rec.duration_seconds) == ("/rec/a.wav", True, 12.5)


def test_log_lines_never_show_the_number(world: World, ami: FakeAmi) -> None:
    """Claiming, calling and retrying a citizen is logged with the number masked."""
    from twisted.logger import formatEvent, globalLogPublisher

    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        (tid,) = world.seed()
        world.start()
        ami.finish(ami.handles[0], "busy")
        world.clock.advance(30 * MINUTE)
        ami.finish(ami.handles[1], "answered")
        ami.hang_up(ami.handles[1])
    finally:
        globalLogPublisher.removeObserver(events.append)
    text = "\n".join(formatEvent(e) + repr(sorted(map(str, e.values()))) for e in events)
    assert "138****0000" in text
    assert "13812340000" not in text
    assert world.task(tid).attempts == 2


@pytest.mark.parametrize("outcome", ["busy", "no_answer", "congestion", "failed"])
def test_every_unanswered_outcome_is_retried_then_manual(
    world: World, ami: FakeAmi, outcome: str
) -> None:
    """Busy, no answer, congestion and failure each get the retries (30 min, then 2 h,
    within the window) and, after the third attempt, the manual list."""
    (tid,) = world.seed()
    world.start()
    ami.finish(ami.handles[0], outcome)
    assert world.task(tid).next_attempt_at == T0 + timedelta(minutes=30)
    world.clock.advance(30 * MINUTE)
    ami.finish(ami.handles[1], outcome)
    world.advance_to(T0 + timedelta(hours=4))  # 12:30 is lunch: 14:00
    assert len(ami.handles) == 3
    ami.finish(ami.handles[2], outcome)
    t = world.task(tid)
    assert (t.status, t.attempts) == ("manual", 3)
    assert [a.outcome for a in world.attempts(tid)] == [outcome] * 3


def test_weekday_windows_skip_a_weekend_without_calls(world: World, ami: FakeAmi) -> None:
    """With no calls on Saturday and Sunday, a task from Friday 20:30 is called at 09:00 on
    Monday, not before; Monday's own window comes from default_windows."""
    evening = T0 + timedelta(hours=10, minutes=30)  # Friday 20:30 local
    world.advance_to(evening)
    world.seed(created_at=evening)
    world.start(CallbackSettings(windows={"sat": [], "sun": []}))
    monday_nine = T0 + timedelta(days=3, hours=-1)  # Monday 09:00 local
    world.advance_to(monday_nine - timedelta(seconds=1))
    assert ami.requests == []
    world.clock.advance(1)
    assert len(ami.requests) == 1


def test_a_weekday_of_its_own_overrides_the_default_windows(world: World, ami: FakeAmi) -> None:
    """Friday 10:00 is inside the default morning window, but Friday configured as 15:00-16:00
    waits until 15:00."""
    world.seed()
    world.start(CallbackSettings(windows={"fri": ["15:00-16:00"]}))
    world.advance_to(T0 + timedelta(hours=5) - timedelta(seconds=1))
    assert ami.requests == []
    world.clock.advance(1)
    assert len(ami.requests) == 1


def test_an_opt_out_between_attempts_stops_the_retries(world: World, ami: FakeAmi) -> None:
    """Busy at 10:00, the citizen opts out at 10:10: the 10:30 retry never dials."""
    (tid,) = world.seed()
    world.start()
    ami.finish(ami.handles[0], "busy")
    world.clock.advance(10 * MINUTE)
    world.db.run_sync(opt_out, "13812340000")
    world.clock.advance(3 * HOUR)
    assert len(ami.requests) == 1
    t = world.task(tid)
    assert (t.status, t.attempts) == ("opted_out", 1)


def test_an_opted_out_non_responder_is_never_called(world: World, ami: FakeAmi) -> None:
    """Sampling does not override an opt-out: the task exists, closed, and nobody is dialled."""
    from storage.models import Survey

    def expired(session: sa.orm.Session) -> int:
        t = add_task(session, add_unit(session, "NRO"), "13700002222")
        survey = session.get(Survey, t.survey_id)
        survey.status, survey.replied_at = "expired", None
        survey.expires_at = T0 - timedelta(minutes=5)
        session.delete(t)
        opt_out(session, "13700002222")
        return survey.id

    survey_id = world.db.run_sync(expired)
    world.start(CallbackSettings(non_response_share=1.0))
    world.clock.advance(HOUR)
    assert ami.requests == []
    status = world.db.run_sync(
        lambda s: s.scalars(
            sa.select(CallbackTask.status).where(CallbackTask.survey_id == survey_id)
        ).one()
    )
    assert status == "opted_out"


def test_a_call_that_ended_while_ami_was_down_waits_for_its_result(
    world: World, ami: FakeAmi
) -> None:
    """``unknown`` (the channel vanished with its events while the AMI link was down) is not
    retried at once: the line is freed, and the IVR result, if the citizen answered, decides."""
    (tid,) = world.seed()
    world.start()
    handle = ami.handles[0]
    ami.finish(handle, "unknown", reason=-1)
    t = world.task(tid)
    assert (t.status, t.attempts) == ("in_progress", 1)
    assert len(ami.open_calls()) == 0
    world.db.run_sync(write_ivr_result, handle.request.attempt_id, "completed", reason_key="2")
    world.clock.advance(S.poll_interval.total_seconds())
    t = world.task(tid)
    assert (t.status, t.reason_key, t.attempts) == ("completed", "2", 1)
    assert len(ami.handles) == 1  # never called twice


def test_an_unknown_call_without_result_is_retried_after_the_grace(
    world: World, ami: FakeAmi
) -> None:
    (tid,) = world.seed()
    world.start()
    ami.finish(ami.handles[0], "unknown", reason=-1)
    world.clock.advance(S.result_grace.total_seconds() + MINUTE)
    t = world.task(tid)
    assert (t.status, t.attempts) == ("pending", 1)
    assert [a.outcome for a in world.attempts(tid)] == ["unknown"]


def test_calls_start_when_the_ami_link_returns_not_at_the_next_poll(
    world: World, ami: FakeAmi
) -> None:
    (tid,) = world.seed()
    ami.connected = False
    world.start()
    world.clock.advance(MINUTE / 2)
    assert ami.requests == []
    ami.link_back()
    world.clock.advance(0)
    assert [r.callback_id for r in ami.requests] == [tid]


def test_callbacks_share_the_trunk_with_the_evaluation_line(
    world: World, ami: FakeAmi, tmp_path
) -> None:
    """trunk_lines=3 and a citizen on the evaluation line holding one: two callbacks go out
    (max_concurrent is 4); when the caller hangs up and a call ends, the next ones follow;
    a finished callback gives its line back."""
    from ivr.lines import TRUNK, LinePool

    pool = LinePool(str(tmp_path / "lines"), TRUNK, 3)
    caller = pool.take()
    assert caller is not None
    world.seed(5)
    scheduler = world.start(take_line=pool.take)
    assert (len(ami.handles), pool.in_use()) == (2, 3)
    caller.release()
    ami.finish(ami.handles[0], "busy")
    world.clock.advance(0)
    assert (len(ami.handles), scheduler.active_calls) == (4, 3)
    assert pool.in_use() == 3
    for handle in ami.handles[1:]:
        ami.finish(handle, "congestion")
    world.clock.advance(0)
    assert len(ami.handles) == 5
    assert pool.in_use() == scheduler.active_calls == 1
