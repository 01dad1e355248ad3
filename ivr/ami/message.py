"""AMI framing without I/O: bytes in, :class:`AmiMessage` out, and actions back to bytes.

The wire format (Asterisk Call Manager 11.0.0 on Asterisk 22): one banner line on connect,
then packets of ``Key: value`` lines ended by an empty line, every line ended by CRLF. Keys may
repeat (``Variable``, ``ChanVariable``), so a message is an ordered list of pairs, not a dict.
Keeping this free of Twisted lets it be tested with byte vectors, as panoramisk keeps its
``message.py`` apart from its protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

CRLF = b"\r\n"
BANNER_PREFIX = "Asterisk Call Manager/"
#: One packet larger than this means a broken peer; we refuse to buffer without bound.
MAX_PACKET_BYTES = 256 * 1024
#: Headers whose values must never appear in a log line.
SECRET_KEYS = frozenset({"secret", "key"})


class AmiFramingError(ValueError):
    """The peer sent bytes that are not AMI; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Banner:
    """The first line the manager sends, e.g. ``Asterisk Call Manager/11.0.0``."""

    text: str

    @property
    def version(self) -> str:
        return self.text[len(BANNER_PREFIX) :] if self.text.startswith(BANNER_PREFIX) else ""


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """One AMI packet: an action, a response or an event, headers in wire order.

    ``unparsed`` keeps lines without a ``:`` (old ``Response: Follows`` command output) so that
    nothing the peer said is silently dropped.
    """

    headers: tuple[tuple[str, str], ...]
    unparsed: tuple[str, ...] = field(default=())

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` (case-insensitive, as Asterisk treats keys)."""
        wanted = key.lower()
        for k, v in self.headers:
            if k.lower() == wanted:
                return v
        return default

    def get_all(self, key: str) -> list[str]:
        """Every value of a repeated key, in wire order."""
        wanted = key.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(f"AMI message has no {key!r} header: {self.redacted()}")
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def redacted(self) -> str:
        """A one-line rendering safe for logs: secrets replaced, phone numbers masked
        (dial strings, caller IDs and channel names carry the citizen's number)."""
        from gateway.masking import mask_phones_in_text

        parts = []
        for k, v in self.headers:
            shown = "********" if k.lower() in SECRET_KEYS else mask_phones_in_text(v)
            parts.append(f"{k}: {shown}")
        return "; ".join(parts)


def encode_action(action: str, headers: Iterable[tuple[str, object]] = ()) -> bytes:
    """Serialize one action: ``Action`` first, headers in order, CRLF, blank-line terminated.

    A CR or LF inside a key or value would let a caller inject a second action (a dial string
    taken from data is the obvious way in), so it is refused with the offending key named.
    """
    lines = [("Action", action), *((k, str(v)) for k, v in headers)]
    out = bytearray()
    for key, value in lines:
        if not key or any(c in key for c in ":\r\n") or key != key.strip():
            raise ValueError(f"invalid AMI header name {key!r} in action {action!r}")
        if "\r" in value or "\n" in value:
            raise ValueError(f"AMI header {key!r} of action {action!r} contains a line break")
        out += f"{key}: {value}".encode() + CRLF
    out += CRLF
    return bytes(out)


class AmiParser:
    """Incremental parser: :meth:`feed` bytes as they arrive, get complete packets back.

    Accepts bare LF as well as CRLF (some proxies rewrite line ends). The first line is the
    banner only if it starts with ``Asterisk Call Manager/``; anything else there is an error,
    because it means we connected to something that is not AMI.
    """

    def __init__(self, expect_banner: bool = True) -> None:
        self._buffer = bytearray()
        self._expect_banner = expect_banner
        self._headers: list[tuple[str, str]] = []
        self._unparsed: list[str] = []
        self._packet_bytes = 0
        self._lines_seen = 0
        self.broken: str | None = None

    def feed(self, data: bytes) -> list[Banner | AmiMessage]:
        """The packets completed by ``data``. After bytes that are not AMI, the packets
        before them are still returned, and this call (or the next) raises
        :class:`AmiFramingError`; :attr:`broken` says why."""
        if self.broken is not None:
            raise AmiFramingError(self.broken)
        self._buffer += data
        items: list[Banner | AmiMessage] = []
        try:
            items.extend(self._drain())
        except AmiFramingError as exc:
            self.broken = str(exc)
            if not items:
                raise
        return items

    def _drain(self) -> Iterator[Banner | AmiMessage]:
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) + self._packet_bytes > MAX_PACKET_BYTES:
                    raise AmiFramingError(
                        f"AMI packet exceeds {MAX_PACKET_BYTES} bytes without a line end "
                        f"(after line {self._lines_seen})"
                    )
                return
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self._lines_seen += 1
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                # Caller ID names arrive in whatever the trunk sent; keep them readable.
                line = raw.decode("utf-8", errors="replace")
            if self._expect_banner:
                self._expect_banner = False
                if not line.startswith(BANNER_PREFIX):
                    raise AmiFramingError(
                        f"line 1 is not an AMI banner (expected {BANNER_PREFIX!r}...): "
                        f"{line[:80]!r}"
                    )
                yield Banner(line)
                continue
            if line == "":
                if self._headers or self._unparsed:
                    yield AmiMessage(tuple(self._headers), tuple(self._unparsed))
                self._headers = []
                self._unparsed = []
                self._packet_bytes = 0
                continue
            self._packet_bytes += len(raw) + 2
            if self._packet_bytes > MAX_PACKET_BYTES:
                raise AmiFramingError(
                    f"AMI packet exceeds {MAX_PACKET_BYTES} bytes (at line {self._lines_seen})"
                )
            key, sep, value = line.partition(":")
            if not sep or not key or key != key.strip():
                self._unparsed.append(line)
                continue
            self._headers.append((key, value[1:] if value.startswith(" ") else value))
