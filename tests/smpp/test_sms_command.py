"""``pingjing sms send`` against the node-smpp peer, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.node


def run_cli(peer, tmp_path, *args: str, system_id: str = "plain", password: str = "secret"):
    config = tmp_path / "pingjing.toml"
    config.write_text(
        f'[smpp]\nport = {peer.port}\nsystem_id = "{system_id}"\npassword = "{password}"\n'
        'source_addr = "10690"\nreconnect_initial = 0.2\nreconnect_max = 0.5\n',
        encoding="utf-8",
    )
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "sms", "send", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_send_prints_parts_ids_and_the_receipt(peer, tmp_path):
    """A Chinese SMS: exit 0, one JSON object with parts, ids and the final receipt state."""
    proc = run_cli(peer, tmp_path, "--to", "13812345678", "--text", "链路测试" * 20,
                   "--wait-receipt", "10")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "submitted"
    assert report["parts"] == 2
    assert len(report["message_ids"]) == 2
    assert (report["receipt_state"], report["final_status"]) == ("DELIVRD", "delivered")
    assert report["to"] == "138****5678"


def test_send_failure_exits_non_zero_with_the_status_name(peer, tmp_path):
    """An invalid destination: exit 1 and ESME_RINVDSTADR in the JSON and on stderr."""
    proc = run_cli(peer, tmp_path, "--to", "00012345678", "--text", "test")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["error"] == "ESME_RINVDSTADR"
    assert "ESME_RINVDSTADR" in proc.stderr


def test_bad_password_exits_unavailable_naming_the_status(peer, tmp_path):
    """A refused bind: exit 69 with ESME_RINVPASWD; the password appears nowhere."""
    proc = run_cli(peer, tmp_path, "--to", "13812345678", "--text", "t", "--bind-timeout", "2",
                   password="wrongpw")  # fmt: skip
    assert proc.returncode == 69
    assert json.loads(proc.stdout)["error"] == "ESME_RINVPASWD"
    assert "wrongpw" not in proc.stdout + proc.stderr


def test_a_bad_number_is_a_usage_error():
    """--to must be digits; the command says which argument is wrong."""
    from gateway.cli import main

    assert main(["sms", "send", "--to", "abc", "--text", "x"]) == 64
