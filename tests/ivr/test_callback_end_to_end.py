"""AMI and AGI together: an Originate answered by the fake PBX runs the real pingjing-agi.

The fake AMI server's ``Answer`` step hands the Originate's variables to the fake Asterisk,
which runs the AGI program; the Hangup event follows only when the script has exited, as on a
real Asterisk, so by the time ``ended`` fires the result is in the database (or the spool).
"""

from __future__ import annotations

from pathlib import Path

from twisted.internet import reactor
from twisted.internet.task import Clock

from ivr.ami.api import AmiSettings, OriginateRequest
from ivr.ami.client import AmiClient
from ivr.spool import ingest_spool, pending_files
from storage.callback_results import session_writer
from tests.fakes.agi_asterisk import AgiPeer, HangUp, Press, Speak, run_agi
from tests.fakes.ami_server import Answer, Busy, FakeAmiFactory, LoopbackEndpoint
from tests.ivr.conftest import SeededDb

NUMBER = "13812345678"


def pbx(tmp_path: Path, db_url: str, *caller, sessions: list) -> FakeAmiFactory:
    clock = Clock()

    def answered(variables: dict[str, str]) -> None:
        peer = AgiPeer(script=list(caller), variables=variables)
        env = {"PINGJING_SERVICE_DATA_DIR": str(tmp_path / "data"), "PINGJING_DATABASE_URL": db_url}
        sessions.append(run_agi(peer, channel_id="pj-9-abc", env=env))

    return FakeAmiFactory(clock=clock, script={NUMBER: [Busy(), Answer(on_answer=answered)]})


def connect(server: FakeAmiFactory) -> tuple[AmiClient, LoopbackEndpoint]:
    wire = LoopbackEndpoint(server, server.clock)
    client = AmiClient(
        AmiSettings(secret="s3cret"),
        reactor,
        clock=server.clock,
        endpoint=wire,
        channel_id_factory=lambda prefix, attempt: f"pj-{attempt}-abc",
    )
    client.startService()
    wire.flush()
    return client, wire


def test_busy_then_answered_and_the_ivr_result_is_stored_by_hangup(
    sqlite_db: SeededDb, tmp_path: Path
) -> None:
    """Attempt 1 busy; attempt 2 answered, the IVR collects everything, Hangup ends it."""
    sessions: list = []
    server = pbx(
        tmp_path, sqlite_db.url, Press("1"), Press("4"), Speak(2000), Press("1"), sessions=sessions
    )
    client, wire = connect(server)
    first = client.originate_call(OriginateRequest(sqlite_db.callback_id, 8, NUMBER))
    wire.run(2)
    assert first.outcome.result.result == "busy"
    second = client.originate_call(
        OriginateRequest(sqlite_db.callback_id, sqlite_db.attempt_id, NUMBER)
    )
    wire.run(2)
    assert second.outcome.result.result == "answered"
    assert second.ended.called  # the AGI ran to its end before the Hangup event
    assert sessions[0].exit_code == 0, sessions[0].stderr
    a = sqlite_db.attempt()
    assert (a.ended_how, a.reason_key, a.consent) == ("completed", "4", True)
    assert a.recording is not None
    client.stopService()


def test_hangup_while_recording_then_db_down_is_spooled_and_ingested(
    sqlite_db: SeededDb, tmp_path: Path
) -> None:
    """The citizen hangs up mid-message while the database is down: the spool keeps it all."""
    sessions: list = []
    server = pbx(
        tmp_path,
        "postgresql+psycopg://nobody@127.0.0.1:1/pingjing",
        Press("1"),
        Press("2"),
        HangUp(after_ms=2500, during="record"),
        sessions=sessions,
    )
    server.script[NUMBER] = server.script[NUMBER][1:]  # answered at once
    client, wire = connect(server)
    handle = client.originate_call(
        OriginateRequest(sqlite_db.callback_id, sqlite_db.attempt_id, NUMBER)
    )
    wire.run(3)
    assert handle.ended.called
    spool = tmp_path / "data" / "agi-spool"
    assert len(pending_files(spool)) == 1
    ingest_spool(spool, session_writer(sqlite_db.sessions))
    a = sqlite_db.attempt()
    assert (a.ended_how, a.reason_key) == ("hangup", "2")
    assert (a.recording.partial, a.recording.duration_seconds) == (True, 2.5)
    client.stopService()
