"""Phone lines shared between processes: a counting semaphore made of lock files.

Every AGI script is its own process and the callback scheduler lives in the daemon, so the
count of calls in progress has to be kept where all of them see it. A pool is ``count`` files
``<name>-<i>.lock`` in one directory; holding a line is holding an exclusive ``flock`` on one of
them. The kernel releases the lock when the holder's process dies, however it dies, so a
crashed script never keeps a line: nothing to clean up, no table that only shrinks if someone
remembers.

Two pools share the directory (issue 18): ``trunk`` (every call in or out takes one: the trunk's
channels) and ``inbound`` (calls to the evaluation line take one as well, so the line never
takes all of the trunk and the callbacks still get out).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os

TRUNK = "trunk"
INBOUND = "inbound"


class Line:
    """One held line; :meth:`release` (or the process ending) frees it."""

    def __init__(self, pool: str, index: int, fd: int) -> None:
        self.pool = pool
        self.index = index
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None


class LinePool:
    """``count`` lines named ``name`` in ``directory`` (created on first use)."""

    def __init__(self, directory: str, name: str, count: int) -> None:
        if count < 0:
            raise ValueError(f"line pool {name}: count must not be negative")
        self.directory = directory
        self.name = name
        self.count = count

    def _path(self, index: int) -> str:
        return os.path.join(self.directory, f"{self.name}-{index}.lock")

    def take(self) -> Line | None:
        """A free line, or None when all ``count`` are held (by any process)."""
        os.makedirs(self.directory, exist_ok=True)
        for index in range(self.count):
            fd = os.open(self._path(index), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    continue
                raise
            return Line(self.name, index, fd)
        return None

    def in_use(self) -> int:
        """How many lines other holders have (a snapshot: it may change at once)."""
        taken = []
        try:
            while (line := self.take()) is not None:
                taken.append(line)
            return self.count - len(taken)
        finally:
            for line in taken:
                line.release()


class LineSet:
    """What one call holds: every line it took, released together."""

    def __init__(self, lines: list[Line]) -> None:
        self.lines = lines

    def release(self) -> None:
        for line in reversed(self.lines):
            line.release()


def take_inbound(directory: str, inbound: int, trunk: int) -> LineSet | None:
    """Lines for one call to the evaluation line: an inbound line, then a trunk line (0: the
    trunk is not limited); None when either pool is full (the caller hears "call later")."""
    held: list[Line] = []
    for name, count in ((INBOUND, inbound), (TRUNK, trunk)):
        if name == TRUNK and count == 0:
            continue
        line = LinePool(directory, name, count).take()
        if line is None:
            LineSet(held).release()
            return None
        held.append(line)
    return LineSet(held)
