"""Lines shared between processes: lock files, held by flock, freed when the holder dies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ivr.lines import INBOUND, TRUNK, LinePool, take_inbound

HOLD = """
import sys, time
from ivr.lines import LinePool
line = LinePool(sys.argv[1], sys.argv[2], int(sys.argv[3])).take()
print("held" if line else "none", flush=True)
sys.stdin.read()  # hold until the test closes stdin (or kills us)
"""


def hold_in_child(directory: Path, pool: str, count: int) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(directory), pool, str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_a_pool_gives_out_count_lines_then_none(tmp_path: Path) -> None:
    pool = LinePool(str(tmp_path), TRUNK, 2)
    a, b = pool.take(), pool.take()
    assert a is not None and b is not None and a.index != b.index
    assert pool.take() is None
    a.release()
    c = pool.take()
    assert c is not None and c.index == a.index


def test_a_line_held_by_another_process_counts(tmp_path: Path) -> None:
    child = hold_in_child(tmp_path, INBOUND, 1)
    try:
        assert LinePool(str(tmp_path), INBOUND, 1).take() is None
        assert LinePool(str(tmp_path), INBOUND, 1).in_use() == 1
    finally:
        child.kill()
        child.wait()


def test_a_process_that_dies_frees_its_line(tmp_path: Path) -> None:
    """Killed without a chance to clean up: the kernel drops the lock, the line is free."""
    child = hold_in_child(tmp_path, INBOUND, 1)
    child.kill()
    child.wait()
    line = LinePool(str(tmp_path), INBOUND, 1).take()
    assert line is not None
    line.release()


def test_an_inbound_call_needs_an_inbound_and_a_trunk_line(tmp_path: Path) -> None:
    """Both pools are taken; a full trunk refuses the call and gives the inbound line back."""
    first = take_inbound(str(tmp_path), inbound=2, trunk=1)
    assert first is not None and [line.pool for line in first.lines] == [INBOUND, TRUNK]
    assert take_inbound(str(tmp_path), inbound=2, trunk=1) is None
    assert LinePool(str(tmp_path), INBOUND, 2).in_use() == 1
    first.release()
    assert LinePool(str(tmp_path), TRUNK, 1).in_use() == 0


def test_trunk_zero_is_not_counted(tmp_path: Path) -> None:
    held = take_inbound(str(tmp_path), inbound=1, trunk=0)
    assert held is not None and [line.pool for line in held.lines] == [INBOUND]
    held.release()
