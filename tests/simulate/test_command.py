"""`pingjing simulate smsc|pbx` as a user runs them: a process that listens, serves, and prints
what happened when stopped."""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import subprocess
import sys

import pytest
import smpplib.client

from gateway.commands import simulate as command


def start(*argv: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "simulate", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match:
            return proc, int(match.group(1))
    proc.kill()
    raise AssertionError(f"simulator did not start: {proc.communicate()}")


def stop(proc: subprocess.Popen) -> dict:
    proc.send_signal(signal.SIGTERM)  # SIGINT is ignored by jobs a script starts with &
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    return json.loads(out)


def test_smsc_command_serves_smpp_and_prints_its_counts(tmp_path):
    """`simulate smsc` accepts a bind and a submit, journals the SMS, and prints the counts."""
    journal = tmp_path / "smsc.jsonl"
    proc, port = start(
        "smsc",
        "--listen",
        "tcp:port=0:interface=127.0.0.1",
        "--password",
        "pw",
        "--journal",
        str(journal),
    )
    try:
        c = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
        c.connect()
        c.bind_transceiver(system_id="pingjing", password="pw")
        c.send_message(destination_addr="13812345678", source_addr="1069", short_message=b"hi")
        assert c.read_pdu().command == "submit_sm_resp"
        c.disconnect()
    finally:
        stats = stop(proc)
    assert stats["messages_received"] == 1
    [record] = [json.loads(line) for line in journal.read_text().splitlines()]
    assert (record["to"], record["text"]) == ("13812345678", "hi")


def test_pbx_command_serves_ami_and_prints_its_counts():
    """`simulate pbx` greets with the AMI banner, accepts the login, and prints its counts."""
    proc, port = start("pbx", "--ami-listen", "tcp:port=0:interface=127.0.0.1", "--secret", "x")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            f = s.makefile("rwb")
            assert f.readline().startswith(b"Asterisk Call Manager/")
            f.write(b"Action: Login\r\nUsername: pingjing\r\nSecret: x\r\nActionID: 1\r\n\r\n")
            f.flush()
            assert f.readline() == b"Response: Success\r\n"
    finally:
        stats = stop(proc)
    assert stats["originates"] == 0


def test_bad_agi_env_is_refused_naming_the_option(capsys):
    """An --agi-env value without '=' is a usage error that names the option and the value."""
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["simulate", "pbx", "--agi-env", "NOEQUALS"])
    assert args.func(args) == 2
    assert "--agi-env 'NOEQUALS'" in capsys.readouterr().err


def test_too_long_password_is_refused_before_listening(capsys):
    """A password SMPP cannot carry (over 8 characters) stops the command with its reason."""
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["simulate", "smsc", "--password", "much-too-long"])
    assert args.func(args) == 2
    assert "password is at most 8 characters" in capsys.readouterr().err


@pytest.mark.parametrize("seed,expected", [("7", 7), ("demo", "demo")])
def test_seed_may_be_a_number_or_a_word(seed, expected):
    """--seed 7 is the integer 7; any other text is used as a string seed."""
    assert command._seed(seed) == expected
