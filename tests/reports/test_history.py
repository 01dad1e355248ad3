"""The seed's table reproduced: `pingjing simulate history` runs fourteen months of events
through intake, the survey pipeline and the callback store; `pingjing report period` then
prints the seed's figures (scaled). At --scale 1 the numbers are the seed's exactly; that run
takes minutes and is documented in docs/reports.md, the test runs a small scale."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted

from gateway.cli import main
from gateway.reports.builders import summary_line
from gateway.reports.figures import Figures
from gateway.reports.settings import ReportSettings
from gateway.simulate.history import QuotaCitizens, spread, totals
from gateway.simulate.history_run import run_history
from storage import migrate
from storage.db import Database
from storage.units import import_file

REPO = Path(__file__).resolve().parents[2]


def test_quotas_are_exact_and_even():
    t = totals(1.0)
    assert (t.sent, t.replies, t.good, t.unsatisfied) == (139_976, 33_563, 32_491, 1_072)
    citizens = QuotaCitizens(totals(0.05))
    answers = [citizens.answer() for _ in range(citizens.t.sent)]
    replies = [a for a in answers if a]
    assert len(replies) == citizens.t.replies
    assert sum(1 for a in replies if a.startswith(("3", "不满意"))) == citizens.t.unsatisfied
    assert sum(spread(1000, 436, i) for i in range(436)) == 1000


def test_the_seed_sentence_at_full_scale():
    """What `report period` prints for the seed's counts (the full run's figures)."""
    f = Figures(
        surveyed=139_976,
        replies=33_563,
        satisfied=29_000,
        basically_satisfied=3_491,
        unsatisfied=1_072,
        callbacks_due=1_072,
        reached_ivr=1_072,
    )
    assert summary_line(f, ReportSettings()) == (
        "发送评警短信 139,976 条，收到回复 33,563 条，回复率 24.0%，满意及基本满意 32,491 条"
        "（满意率 96.8%），不满意 1,072 条，已回访 1,072 条（100.0%）。"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/h.db"
    return request.getfixturevalue("pg_url")


@pytest.mark.timeout(600)
@pytest_twisted.inlineCallbacks
def test_history_through_the_pipeline_prints_the_seeds_figures_scaled(url, tmp_path, capsys):
    """`simulate history` (its runner: the command wraps it in the reactor) at 1/500 scale."""
    config = tmp_path / "pj.toml"
    config.write_text(
        f'[service]\ndata_dir = "{tmp_path}"\n[database]\nurl = "{url}"\n[smpp]\nsystem_id = "t"\n',
        "utf-8",
    )
    migrate.upgrade(url)
    db = Database(url)
    for name in ("units.csv", "officers.csv"):
        db.run_sync(import_file, (REPO / "conf" / name).read_text("utf-8"), name)
    try:
        run = yield run_history(db, scale=0.002, say=lambda line: None)
    finally:
        db.stop()
    assert (run.days, run.events, run.surveys_sent, run.replies_sent) == (436, 280, 280, 67)
    assert run.callbacks_completed == 2 and run.rejected == []
    # cases 1 and 2 (ids not divisible by three) are substantiated, then rectified
    assert (run.cases_worked, run.cases_substantiated) == (2, 2)
    capsys.readouterr()
    assert (
        main(
            [
                "report",
                "period",
                "--config",
                str(config),
                "--from",
                "2017-05-01",
                "--to",
                "2018-07-10",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        "发送评警短信 280 条，收到回复 67 条，回复率 23.9%，满意及基本满意 65 条（满意率 97.0%），"
        "不满意 2 条，已回访 2 条（100.0%），查证属实 2 件，已整改 2 件（整改率 100.0%）。"
    )
