"""Two schedulers (two ``pingjing run`` processes) on one database: the trunk's capacity holds
in total, no task is called twice, and one's crash leaves its tasks to the other."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from twisted.internet.task import Clock

from gateway.callbacks.scheduler import CallbackScheduler
from gateway.callbacks.settings import CallbackSettings
from storage.callback_store import SqlCallbackStore
from storage.models import CallAttempt
from tests.callbacks.conftest import T0, FakeAmi, SyncDatabase, add_task, add_unit

S = CallbackSettings(max_concurrent=3)


@pytest.fixture
def clock() -> Clock:
    c = Clock()
    c.advance(T0.timestamp())
    return c


@pytest.fixture
def pair(any_db: SyncDatabase, clock: Clock) -> Iterator[list[tuple[CallbackScheduler, FakeAmi]]]:
    def seed(session: sa.orm.Session) -> None:
        unit = add_unit(session, "U-pair")
        for i in range(10):
            add_task(session, unit, f"1381234{i:04d}")

    any_db.run_sync(seed)
    out = []
    for name in ("gw-a", "gw-b"):
        ami = FakeAmi()
        scheduler = CallbackScheduler(any_db, ami, S, clock, store=SqlCallbackStore(), worker=name)
        out.append((scheduler, ami))
    for scheduler, _ in out:
        scheduler.startService()
    clock.advance(0)
    yield out
    for scheduler, _ in out:
        if scheduler.running:
            scheduler.stopService()


def open_calls(pair) -> int:
    return sum(len(ami.open_calls()) for _, ami in pair)


def test_trunk_capacity_holds_across_both_processes(pair, clock: Clock) -> None:
    assert open_calls(pair) == 3  # not 3 each
    (_, ami_a), (_, ami_b) = pair
    for _ in range(20):  # calls end one by one; each freed line is taken by either process
        clock.advance(1)
        assert open_calls(pair) <= 3
        calls = ami_a.open_calls() + ami_b.open_calls()
        if not calls:
            break
        owner = ami_a if calls[0] in ami_a.handles else ami_b
        owner.finish(calls[0], "busy")
        clock.advance(1)
        assert open_calls(pair) <= 3
    numbers = [h.request.number for _, ami in pair for h in ami.handles]
    assert len(set(numbers)) == 10  # every citizen called, one line at a time


def test_no_task_is_called_twice_at_once(pair, any_db: SyncDatabase) -> None:
    handles = [h for _, ami in pair for h in ami.handles]
    assert len({h.request.callback_id for h in handles}) == len(handles)
    attempts = any_db.run_sync(
        lambda s: s.scalar(sa.select(sa.func.count()).select_from(CallAttempt))
    )
    assert attempts == len(handles)


def test_a_stopped_process_lines_are_taken_by_the_other_once_its_claims_expire(
    pair, clock: Clock
) -> None:
    (a, ami_a), (_, ami_b) = pair
    assert ami_a.open_calls()  # a holds lines when it goes
    a.stopService()  # as if killed: its claims stay until they expire
    before = len(ami_b.handles)
    clock.advance(60)
    assert len(ami_b.handles) == before  # a's lines still count
    clock.advance(S.claim_lease.total_seconds())
    assert len(ami_b.open_calls()) == 3  # b now uses the whole trunk
    assert len(ami_b.handles) > before


def test_calls_a_crashed_process_left_up_still_count_against_the_trunk(
    any_db: SyncDatabase, clock: Clock
) -> None:
    """Asterisk still has two calls of a process that died (the database no longer counts
    them once its claims are recovered): a new scheduler uses only the free line."""

    def seed(session: sa.orm.Session) -> None:
        unit = add_unit(session, "U-left")
        for i in range(5):
            add_task(session, unit, f"1381239{i:04d}")

    any_db.run_sync(seed)
    ami = FakeAmi()
    ami.at_asterisk = (frozenset({90_001, 90_002}), 0)  # attempts the database closed
    scheduler = CallbackScheduler(any_db, ami, S, clock, store=SqlCallbackStore(), worker="gw-c")
    scheduler.startService()
    clock.advance(0)
    assert len(ami.open_calls()) == 1  # 3 lines, 2 still up at Asterisk
    scheduler.stopService()


def test_the_trunk_is_the_union_of_the_database_and_asterisk(
    any_db: SyncDatabase, clock: Clock
) -> None:
    """One process has a call claimed that Asterisk has not shown yet, while Asterisk still
    has a call a crashed process left up: two lines in use, not max(1, 1); and a call both
    know about is counted once."""

    def seed(session: sa.orm.Session) -> None:
        unit = add_unit(session, "U-union")
        for i in range(5):
            add_task(session, unit, f"1381249{i:04d}")

    any_db.run_sync(seed)
    ami_a = FakeAmi()
    a = CallbackScheduler(
        any_db,
        ami_a,
        CallbackSettings(max_concurrent=1),
        clock,
        store=SqlCallbackStore(),
        worker="gw-a",
    )
    a.startService()
    clock.advance(0)
    (claimed,) = ami_a.open_calls()  # in the database, not yet at Asterisk
    ami_b = FakeAmi()
    ami_b.at_asterisk = (frozenset({90_003}), 0)  # an orphan of a crashed process
    b = CallbackScheduler(any_db, ami_b, S, clock, store=SqlCallbackStore(), worker="gw-b")
    b.startService()
    clock.advance(0)
    assert len(ami_b.open_calls()) == 1  # 3 lines: a's claim, the orphan, and one more

    ami_c = FakeAmi()  # Asterisk shows a's call and b's: each is also in the database
    ami_c.at_asterisk = (
        frozenset({claimed.request.attempt_id, ami_b.open_calls()[0].request.attempt_id}),
        1,  # and one channel of ours it cannot tie to an attempt
    )
    c = CallbackScheduler(any_db, ami_c, S, clock, store=SqlCallbackStore(), worker="gw-c")
    c.startService()
    clock.advance(0)
    assert ami_c.open_calls() == []  # 2 in the database (both seen) + 1 untied = 3
    for scheduler in (a, b, c):
        scheduler.stopService()
