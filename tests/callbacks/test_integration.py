"""The scheduler with the real AMI client against the fake AMI server (tests/fakes).

In memory (``LoopbackEndpoint``, fake time and bytes in lock-step) for whole scenarios, and
once over a real socket on 127.0.0.1 with the real thread-pool ``Database``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import sqlalchemy as sa
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from gateway.app import spool_ingester
from gateway.callbacks.scheduler import CallbackScheduler
from gateway.callbacks.settings import CallbackSettings
from ivr.ami.api import AmiSettings
from ivr.ami.client import ATTEMPT_ID_VARIABLE, AmiClient
from storage.callback_store import SqlCallbackStore
from storage.db import Database
from storage.models import Base, CallAttempt, CallbackTask
from tests.callbacks.conftest import T0, SyncDatabase, add_task, add_unit, write_ivr_result
from tests.fakes.ami_server import Answer, Busy, FakeAmiFactory, LoopbackEndpoint, NoAnswer

NUMBER = "13812345678"
AMI = AmiSettings(secret="s3cret", outcome_timeout=90.0, call_max_seconds=600.0)


def seed_one(session: sa.orm.Session) -> int:
    return add_task(session, add_unit(session, "S1"), NUMBER).id


def ivr_answers(db: Any, **result: Any) -> Callable[[dict[str, str]], Any]:
    """What the AGI script does while the fake channel is up: store its result by attempt."""

    def on_answer(variables: dict[str, str]) -> Any:
        attempt_id = int(variables[ATTEMPT_ID_VARIABLE])
        return db.run(write_ivr_result, attempt_id, **result)

    return on_answer


def test_busy_then_answered_through_the_ami_wire(db: SyncDatabase) -> None:
    """Busy, then answered 30 minutes later: the IVR's answers close the task; both attempts
    carry what Asterisk reported (reason code, hangup cause, our ChannelId)."""
    clock = Clock()
    clock.advance(T0.timestamp())
    tid = db.run_sync(seed_one)
    answer = Answer(
        ring_seconds=3, on_answer=ivr_answers(db, ended_how="completed", reason_key="1")
    )
    server = FakeAmiFactory(clock=clock, script={NUMBER: [Busy(), answer]})
    wire = LoopbackEndpoint(server, clock)
    ami = AmiClient(AMI, reactor, clock=clock, endpoint=wire)
    ami.startService()
    wire.flush()
    scheduler = CallbackScheduler(
        db, ami, CallbackSettings(), clock, store=SqlCallbackStore(), worker="it"
    )
    scheduler.startService()
    try:
        wire.run(10)
        assert db.run_sync(lambda s: s.get(CallbackTask, tid).status) == "pending"
        wire.run(30 * 60, step=5)
        task = db.run_sync(lambda s: s.get(CallbackTask, tid))
        assert (task.status, task.attempts, task.reason_key) == ("completed", 2, "1")
        attempts = db.run_sync(
            lambda s: list(s.scalars(sa.select(CallAttempt).order_by(CallAttempt.attempt_number)))
        )
        assert [(a.outcome, a.originate_reason) for a in attempts] == [
            ("busy", 5),
            ("answered", 4),
        ]
        assert attempts[1].hangup_cause == 16
        assert all(a.channel_id.startswith("pj-") for a in attempts)
        assert [o.number for o in server.originates] == [NUMBER, NUMBER]
        assert scheduler.active_calls == 0
    finally:
        scheduler.stopService()
        ami.stopService()
        wire.flush()


def test_no_answer_three_times_through_the_ami_wire(db: SyncDatabase) -> None:
    """Three unanswered rings (10:00, 10:30, 14:00) leave the task to supervisors."""
    clock = Clock()
    clock.advance(T0.timestamp())
    tid = db.run_sync(seed_one)
    server = FakeAmiFactory(clock=clock, script={NUMBER: [NoAnswer()]})
    wire = LoopbackEndpoint(server, clock)
    ami = AmiClient(AMI, reactor, clock=clock, endpoint=wire)
    ami.startService()
    wire.flush()
    scheduler = CallbackScheduler(
        db, ami, CallbackSettings(), clock, store=SqlCallbackStore(), worker="it"
    )
    scheduler.startService()
    try:
        wire.run(5 * 3600, step=10)
        task = db.run_sync(lambda s: s.get(CallbackTask, tid))
        assert (task.status, task.attempts) == ("manual", 3)
        assert len(server.originates) == 3
    finally:
        scheduler.stopService()
        ami.stopService()
        wire.flush()


@pytest_twisted.ensureDeferred
async def test_answered_over_a_real_socket(tmp_path: Path) -> None:
    """Over TCP on 127.0.0.1 with the thread-pool Database: one answered callback completes.

    Fake time stays put (zero-delay steps only); the reactor turns while we wait.
    """
    database = Database(f"sqlite:///{tmp_path / 'it.db'}")
    Base.metadata.create_all(database.engine)
    tid = database.run_sync(seed_one)
    clock = Clock()
    clock.advance(T0.timestamp())
    answer = Answer(
        ring_seconds=0,
        on_answer=ivr_answers(database, ended_how="wrong_person"),
    )
    server = FakeAmiFactory(clock=clock, script={NUMBER: [answer]})
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    settings = AmiSettings(host="127.0.0.1", port=port.getHost().port, secret="s3cret")
    ami = AmiClient(settings, reactor, clock=clock)
    ami.startService()
    scheduler = CallbackScheduler(
        database, ami, CallbackSettings(), clock, store=SqlCallbackStore(), worker="it"
    )
    done: Deferred[None] = Deferred()

    def pump() -> None:
        clock.advance(0)
        status = database.run_sync(lambda s: s.get(CallbackTask, tid).status)
        if status == "wrong_person" and scheduler.active_calls == 0:
            done.callback(None)
        else:
            reactor.callLater(0.01, pump)

    try:
        await ami.when_ready()
        scheduler.startService()
        pump()
        await done.addTimeout(20, reactor)
        assert [o.number for o in server.originates] == [NUMBER]
    finally:
        await scheduler.stopService()
        await ami.stopService()
        await port.stopListening()
        database.stop()


@pytest.mark.parametrize("database", ["reachable", "down"])
def test_the_whole_chain_with_the_real_agi_script(
    db: SyncDatabase, tmp_path: Path, database: str
) -> None:
    """Scheduler -> AMI client -> fake AMI -> the real ``pingjing-agi`` (as a subprocess, on
    the channel variables the Originate set) -> the database directly, or (database down
    during the call) its spool, which the scheduler ingests after the hangup. Either way the
    task is completed with the keys pressed and the recording's size and SHA-256."""
    from storage.models import Recording
    from tests.fakes.agi_asterisk import AgiPeer, Press, Speak, run_agi

    clock = Clock()
    clock.advance(T0.timestamp())
    tid = db.run_sync(seed_one)
    data_dir = tmp_path / "data"
    script_db = db.url if database == "reachable" else "postgresql+psycopg://x@127.0.0.1:1/x"
    sessions: list[Any] = []

    def answered(variables: dict[str, str]) -> None:
        peer = AgiPeer(
            script=[Press("1"), Press("5"), Speak(2000), Press("1")], variables=variables
        )
        env = {"PINGJING_SERVICE_DATA_DIR": str(data_dir), "PINGJING_DATABASE_URL": script_db}
        sessions.append(run_agi(peer, channel_id="pj-chain", env=env))

    server = FakeAmiFactory(clock=clock, script={NUMBER: [Answer(on_answer=answered)]})
    wire = LoopbackEndpoint(server, clock)
    ami = AmiClient(AMI, reactor, clock=clock, endpoint=wire)
    ami.startService()
    wire.flush()
    scheduler = CallbackScheduler(
        db,
        ami,
        CallbackSettings(),
        clock,
        store=SqlCallbackStore(),
        worker="chain",
        ingest_spool=spool_ingester(db, str(data_dir / "agi-spool")),
    )
    scheduler.startService()
    try:
        wire.run(10)
        (session,) = sessions
        assert session.exit_code == 0, session.stderr
        assert ("spooling" in session.stderr) is (database == "down")
        task = db.run_sync(lambda s: s.get(CallbackTask, tid))
        assert (task.status, task.attempts, task.reason_key, task.consent) == (
            "completed",
            1,
            "5",
            True,
        )
        rec = db.run_sync(lambda s: s.scalars(sa.select(Recording)).one())
        audio = Path(rec.path).read_bytes()
        assert (rec.size_bytes, rec.sha256) == (len(audio), hashlib.sha256(audio).hexdigest())
        assert rec.duration_seconds == 1.8
        assert list((data_dir / "agi-spool").glob("*.json")) == []
        assert scheduler.active_calls == 0
    finally:
        scheduler.stopService()
        ami.stopService()
        wire.flush()
