"""A private RabbitMQ node for tests that must stop and start a broker.

The shared broker on 127.0.0.1:5672 serves every engineer's tests and benchmarks at once, so a
test that restarts a broker starts its own node: its own node name, AMQP and distribution
ports, Mnesia directory, logs, configuration, (empty) plugin list and Erlang cookie, all under
one directory. ``/etc/rabbitmq`` is not read: its environment file names the shared node and its
configuration binds port 5672.

``start`` and ``stop`` block until ``rabbitmqctl`` reports the node up or down (RabbitMQ's own
wait, no polling here): call them from a fixture, or through ``threads.deferToThread`` from a
test running on the reactor.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
from pathlib import Path

#: Where Debian and Ubuntu put the real scripts; /usr/sbin holds a wrapper that runs them as
#: the ``rabbitmq`` user with the shared node's environment, which is not what we want.
SBIN_CANDIDATES = ("/usr/lib/rabbitmq/bin",)
START_TIMEOUT = 60
STOP_TIMEOUT = 30


class NodeError(RuntimeError):
    """The node did not start or stop; the message carries the tail of its log."""


def find_sbin() -> Path | None:
    """The directory holding the real ``rabbitmq-server`` and ``rabbitmqctl`` scripts."""
    override = os.environ.get("PINGJING_RABBITMQ_SBIN")
    candidates = [override] if override else list(SBIN_CANDIDATES)
    on_path = shutil.which("rabbitmq-server")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in candidates:
        sbin = Path(candidate)
        if (sbin / "rabbitmq-server").is_file() and (sbin / "rabbitmqctl").is_file():
            return sbin
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateNode:
    """One RabbitMQ node living in ``base``; a stop and a start keep its durable data."""

    def __init__(self, sbin: Path, base: Path) -> None:
        self.sbin = sbin
        self.base = base
        self.name = f"pingjing-{secrets.token_hex(4)}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.pid_file = base / "node.pid"
        self.log_file = base / "server.out"
        self._process: subprocess.Popen[bytes] | None = None
        self._group: int | None = None
        self._write_files()

    @property
    def amqp_params(self) -> dict[str, object]:
        """The same shape as the ``amqp_params`` fixture, for this node."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "user": "guest",
            "password": "guest",
            "vhost": "/",
        }

    def _write_files(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "rabbitmq-env.conf").write_text("")
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            "log.console.level = warning\n"
            "log.file.level = info\n"
        )
        cookie = self.base / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20).upper())
        cookie.chmod(0o400)

    def _env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RABBITMQ_", "ERL_")) and k != "NODENAME"
        }
        base = self.base
        env.update(
            HOME=str(base),  # the node and rabbitmqctl read the same private cookie
            RABBITMQ_CONF_ENV_FILE=str(base / "rabbitmq-env.conf"),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
            RABBITMQ_LOG_BASE=str(base / "log"),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_CONFIG_FILE=str(base / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(base / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
            ERL_EPMD_ADDRESS="127.0.0.1",
        )
        return env

    def ctl(self, *args: str, timeout: float = 30) -> str:
        """Run ``rabbitmqctl -n NODE args``; its output, or NodeError with the log's tail."""
        command = [str(self.sbin / "rabbitmqctl"), "-n", self.name, *args]
        try:
            done = subprocess.run(
                command,
                env=self._env(),
                cwd=self.base,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise NodeError(f"rabbitmqctl {' '.join(args)} timed out\n{self.tail()}") from exc
        if done.returncode != 0:
            raise NodeError(
                f"rabbitmqctl {' '.join(args)} exited {done.returncode}: "
                f"{done.stderr.strip() or done.stdout.strip()}\n{self.tail()}"
            )
        return done.stdout

    def queue_counts(self, queue: str) -> tuple[int, int]:
        """(ready, unacknowledged) messages of ``queue`` as the broker counts them."""
        out = self.ctl(
            "-q",
            "list_queues",
            "name",
            "messages_ready",
            "messages_unacknowledged",
            "--no-table-headers",
        )
        for line in out.splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[0] == queue:
                return int(fields[1]), int(fields[2])
        raise NodeError(f"no queue {queue!r} on {self.name}:\n{out}")

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no server output)"
        return "\n".join(text.splitlines()[-lines:])

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the node (on the data left by an earlier run) and wait until it serves AMQP."""
        if self.running:
            raise NodeError(f"{self.name} is already running")
        self.pid_file.unlink(missing_ok=True)
        with self.log_file.open("ab") as out:
            self._process = subprocess.Popen(
                [str(self.sbin / "rabbitmq-server")],
                env=self._env(),
                cwd=self.base,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group to kill if all else fails
            )
        self._group = self._process.pid
        try:
            self.ctl(
                "wait",
                str(self.pid_file),
                "--timeout",
                str(START_TIMEOUT),
                timeout=START_TIMEOUT + 10,
            )
        except NodeError:
            self.kill()
            raise

    def stop(self) -> None:
        """Stop the node the way an operator does; its clients see the broker close on them."""
        if not self.running:
            return
        self.ctl("stop", str(self.pid_file), timeout=STOP_TIMEOUT)
        assert self._process is not None
        self._process.wait(timeout=STOP_TIMEOUT)
        self._process = self._group = None

    def kill(self) -> None:
        """SIGKILL the node's whole process group: a crash for a test, a last resort in teardown."""
        process, self._process = self._process, None
        group, self._group = self._group, None
        if group is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        if process is not None:
            process.wait(timeout=STOP_TIMEOUT)

    def close(self) -> None:
        """Stop the node, then kill whatever is left of it; a failed stop is still raised."""
        try:
            self.stop()
        finally:
            self.kill()
