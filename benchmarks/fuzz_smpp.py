"""Feed generated and mutated SMPP PDUs to the codec and to a bound session; check each answer.

    python benchmarks/fuzz_smpp.py --count 1000000 --seed 17

Each case (benchmarks/smpp_fuzzgen.py) is decoded by the sans-IO codec and then fed, in random
chunk splits, to a bound :class:`SmppSession` whose deliver_sm handler is the real service's
(receipts, UDH, reassembly, text decoding) over a memory store, framed by a valid deliver_sm
before it and a valid deliver_sm and a submit_sm_resp after it. For every case:

* nothing but the protocol's own errors escapes the codec, the session or the handler;
* when the mutation class decides the answer (a command_length outside 16..max drops the link;
  an unknown command_id gets generic_nack ESME_RINVCMDID; ...), that is the answer, and the
  codec's error names the field or tag;
* the session answers what the codec read: generic_nack for a header fault, the command's own
  response with the error status for a bad value, nothing for a response; the answer and the
  log name what was wrong and where (the offset);
* a valid PDU after a bad one that still leaves the stream framed is handled (nothing lost): the
  deliver_sm is stored and answered, the submit_sm_resp resolves its request; a request still
  in the window ends (resolved, or failed at its deadline) and the link is dropped with a
  logged reason when the stream cannot be cut into PDUs any more.

It prints outcomes by mutation class and the rate; on a violation it exits 1 with the seed, the
case index and the input's hex (``--case N`` replays one).
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher

from benchmarks.smpp_fuzzgen import HARNESS_SEQ, Case, build, make_case
from gateway.errors import ESME_RINVCMDID
from gateway.smpp import codec
from gateway.smpp.service import SmppService
from gateway.smpp.session import DATA_SM, DELIVER_SM, ENQUIRE_LINK, UNBIND, SmppSession, State
from gateway.smpp.settings import SmppSettings
from gateway.smpp.store import MemorySmsStore

SETTINGS = SmppSettings(
    system_id="fuzz",
    password="x",
    window=10,
    enquire_link_interval=1e9,  # keep-alive is not under test; deadlines are
    response_timeout=5,
    bind_timeout=5,
)
ALERT_NOTIFICATION = 0x102


class ViolationError(AssertionError):
    pass


@dataclass
class Link:
    """One bound session over a recorded wire, with the service's deliver_sm handler."""

    session: SmppSession
    clock: Clock
    store: CountingStore
    written: list[tuple[int, int, int]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    delivered: list[bytes] = field(default_factory=list)
    handler_errors: list[str] = field(default_factory=list)


class CountingStore(MemorySmsStore):
    """Counts what the service asked to store (parts assembled later leave ``held``)."""

    writes = 0

    def record_receipt(self, receipt):
        self.writes += 1
        return super().record_receipt(receipt)

    def take_reply(self, *args, **kwargs):
        self.writes += 1
        return super().take_reply(*args, **kwargs)


def new_link() -> Link:
    clock, store = Clock(), CountingStore()
    service = SmppService(SETTINGS, store, clock=clock)
    link: Link

    def write(data: bytes) -> None:
        if link.dropped:
            raise ViolationError(f"wrote {data.hex()} after dropping the link ({link.dropped[0]})")
        for frame in codec.Framer().feed(data):
            cid, status, seq = codec.HEADER.unpack_from(frame)[1:]
            link.written.append((cid, seq, status))

    def on_deliver(pdu: codec.Pdu):
        link.delivered.append(pdu.get("short_message", b""))
        before = store.writes
        d = service._deliver_received(pdu, link.session)

        def check(answer):
            # a reply is answered (status, proof token), a receipt with its status
            status = answer[0] if isinstance(answer, tuple) else answer
            if status == 0 and store.writes == before:
                link.handler_errors.append("deliver_sm answered ESME_ROK but nothing stored")
            return answer

        def failed(f):
            link.handler_errors.append(f"handler raised {f.type.__name__}: {f.getErrorMessage()}")
            return f

        return d.addCallbacks(check, failed)

    session = SmppSession(
        SETTINGS, "bind_transceiver", clock, write, lambda why: link.dropped.append(why), on_deliver
    )
    session.link = "fuzz/1/trx#1"  # as SmppService._session_maker names a link
    link = Link(session, clock, store)
    session.connection_made()
    bind_seq = link.written.pop()[1]
    session.data_received(codec.HEADER.pack(21, 0x80000009, 0, bind_seq) + b"smsc\0")
    assert session.state is State.BOUND
    return link


def expected_answers(frame: bytes) -> tuple[list[tuple[int, int, int]], str, bool]:
    """What the session must write for one frame, by the codec's reading of it; the outcome
    class; and whether the link must drop after it."""
    try:
        pdu = codec.decode(frame)
    except codec.DecodeError as exc:
        if not exc.reason or exc.offset is None:
            raise ViolationError(f"decode error without a reason and an offset: {exc!r}") from None
        seq, cid = exc.sequence or 0, exc.command_id
        if cid is not None and cid & 0x80000000 and exc.status != ESME_RINVCMDID:
            return [], "unreadable response", False
        if cid in (DELIVER_SM, DATA_SM) and not exc.header_fault:
            return [(cid | 0x80000000, seq, exc.status)], f"resp 0x{exc.status:02X}", False
        return [(0x80000000, seq, exc.status)], f"generic_nack 0x{exc.status:02X}", False
    cid, seq = pdu.command_id, pdu.sequence
    if pdu.is_response:
        return [], "response read", False
    if cid == ENQUIRE_LINK:
        return [(cid | 0x80000000, seq, 0)], "answered", False
    if cid == UNBIND:
        return [(cid | 0x80000000, seq, 0)], "unbound", True
    if cid in (DELIVER_SM, DATA_SM):
        return [(cid | 0x80000000, seq, 0)], "stored", False
    if cid == ALERT_NOTIFICATION:
        return [], "alert (no response)", False
    return [(0x80000000, seq, ESME_RINVCMDID)], "generic_nack 0x03", False


def check_class(case: Case) -> None:
    """The answer the mutation class decides, read from the codec alone."""
    if case.expect is None:
        return
    framer = codec.Framer()
    try:
        frames = framer.feed(case.data)
    except codec.FramingError as exc:
        if case.expect != "drop" or "command_length" not in str(exc):
            raise ViolationError(f"expected {case.expect}, the framer refused it: {exc}") from None
        return
    if case.expect == "drop":
        raise ViolationError("expected the framer to refuse the command_length")
    if len(frames) != 1:
        raise ViolationError(f"expected one frame, got {len(frames)}")
    try:
        pdu = codec.decode(frames[0])
    except codec.DecodeError as exc:
        if case.names and case.names not in str(exc):
            raise ViolationError(f"error {str(exc)!r} does not name {case.names!r}") from None
        answer, _, _ = expected_answers(frames[0])
        got = "response" if not answer else _kind(answer[0], exc.status)
        if got != case.expect:
            raise ViolationError(f"expected {case.expect}, the codec says {got} ({exc})") from None
        return
    if case.expect != "ok" and not (case.expect == "response" and pdu.is_response):
        raise ViolationError(f"expected {case.expect}, the codec read it as {pdu.command}")
    if case.cls == "valid":
        _check_round_trip(frames[0], pdu)


def _kind(answer: tuple[int, int, int], status: int) -> str:
    return f"nack:{status}" if answer[0] == 0x80000000 else f"answer:{status}"


def _check_round_trip(frame: bytes, pdu: codec.Pdu) -> None:
    layout = codec._layout(pdu.command_id)
    body = frame[16:]
    rebuilt = []
    for name, kind, size, _ in layout.mandatory:
        value = pdu.get(name)
        if value is None and not body:
            return  # a response without a body
        if kind is int:
            rebuilt.append(int(value).to_bytes(size, "big"))
        elif kind is str:
            rebuilt.append(value + b"\0")
        else:
            rebuilt.append(value)
    rebuilt.extend(codec.tlv(tag, raw) for tag, raw in pdu.tlvs.items())
    if b"".join(rebuilt) != body:
        raise ViolationError(f"a valid {pdu.command} did not decode to what was encoded")


class Logs:
    """The warnings of the SMPP package, per case (a context manager observes the log)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __enter__(self) -> Logs:
        globalLogPublisher.addObserver(self)
        return self

    def __exit__(self, *exc: object) -> None:
        globalLogPublisher.removeObserver(self)

    def __call__(self, event: dict) -> None:
        if event.get("log_namespace", "").startswith("pingjing.smpp"):
            level = event.get("log_level")
            if level is not None and level.name in ("warn", "error", "critical"):
                from twisted.logger import formatEvent

                self.lines.append(formatEvent(event))


def run_case(link: Link, case: Case, rng: random.Random, logs: Logs) -> str:
    """Feed one case between valid PDUs to the session; return the outcome class."""
    check_class(case)
    s = link.session
    before = build(rng, DELIVER_SM, HARNESS_SEQ + 1, b"fuzz-before", 0, [], 0).frame()
    after = build(rng, DELIVER_SM, HARNESS_SEQ + 2, b"fuzz-after", 0, [], 0).frame()
    pending = s.send_request("submit_sm", destination_addr="10690", short_message=b"x")
    ended: list[object] = []
    pending.addBoth(ended.append)
    submit_seq = link.written.pop()[1]
    resp = codec.HEADER.pack(20, 0x80000004, 0, submit_seq) + b"abc\0"
    stream = before + case.data + after + resp
    link.written.clear()
    link.delivered.clear()
    logs.lines.clear()

    # what the codec makes of the stream, frame by frame, decides what the session must do
    framer = codec.Framer(SETTINGS.max_pdu_length)
    try:
        frames = framer.feed(stream)
        broken = framer.broken
    except codec.FramingError as exc:
        frames, broken = [], str(exc)
    want: list[tuple[int, int, int]] = []
    must_log: list[str] = []
    outcome, drop = "link dropped", False
    for i, frame in enumerate(frames):
        answers, what, stop = expected_answers(frame)
        want.extend(answers)
        if i == 1:
            outcome = what
        if what.startswith(("resp ", "unreadable")) or what == "generic_nack 0x02":
            must_log.append("offset")
        elif what == "generic_nack 0x03":
            must_log.append("generic_nack")
        if stop:
            drop = True
            break
    framing_drop = bool(broken) and not drop  # an unbind before the bad bytes drops first
    if framing_drop:
        drop = True
        if frames[1:]:
            outcome += ", then link dropped"
    framed = not drop and frames[-2:] == [after, resp] and not framer.buffered

    pos = 0
    while pos < len(stream):
        step = rng.choice((1, 7, 16, 64, 4096)) if rng.random() < 0.5 else len(stream)
        s.data_received(stream[pos : pos + step])
        pos += step
    if link.handler_errors:
        raise ViolationError("; ".join(link.handler_errors))
    if link.written != want:
        raise ViolationError(
            f"session wrote {_show(link.written)}, the codec's reading needs {_show(want)}"
        )
    for needed in must_log:
        if not any(needed in line for line in logs.lines):
            raise ViolationError(
                f"rejected without a logged reason naming {needed!r}: {logs.lines}"
            )
    if drop:
        if not link.dropped:
            raise ViolationError("the stream cannot be re-framed but the link was not dropped")
        reason = link.dropped[0]
        if framing_drop and not ("command_length" in reason and "offset" in reason):
            raise ViolationError(f"drop reason {reason!r} does not say what and where")
    elif link.dropped:
        raise ViolationError(f"link dropped for no reason the codec sees: {link.dropped}")
    if framed and b"fuzz-after" not in link.delivered:
        raise ViolationError("the valid deliver_sm after the bad input was lost")
    if framed and not ended:
        raise ViolationError("the submit_sm_resp after the bad input did not resolve its request")
    if link.dropped:
        s.connection_lost(link.dropped[0])
    elif not ended:
        link.clock.advance(SETTINGS.response_timeout + 1)  # misframed: ends at its deadline
    if not ended:
        raise ViolationError("a request in the window never ended")
    return outcome


def _show(answers: list[tuple[int, int, int]]) -> str:
    return "[" + ", ".join(f"0x{c:08X} seq {q} status 0x{st:02X}" for c, q, st in answers) + "]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--case", type=int, help="replay one case by its index")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    result = fuzz(args.seed, args.count, only=args.case, progress=not args.quiet)
    print(result.table())
    for index, cls, data, error in result.violations[:20]:
        print(f"VIOLATION seed {args.seed} case {index} ({cls}): {error}\n  input {data.hex()}")
    return 1 if result.violations else 0


@dataclass
class Result:
    count: int = 0
    seconds: float = 0.0
    by_class: dict[str, collections.Counter] = field(default_factory=dict)
    violations: list[tuple[int, str, bytes, str]] = field(default_factory=list)

    def table(self) -> str:
        lines = [f"{'mutation class':28} {'inputs':>8}  outcomes"]
        for cls in sorted(self.by_class):
            c = self.by_class[cls]
            shown = ", ".join(f"{k} {v}" for k, v in c.most_common())
            lines.append(f"{cls:28} {sum(c.values()):>8}  {shown}")
        rate = self.count / self.seconds if self.seconds else 0.0
        lines.append(
            f"{self.count} inputs in {self.seconds:.1f} s ({rate:,.0f}/s), "
            f"{len(self.violations)} violations"
        )
        return "\n".join(lines)


def fuzz(seed: int, count: int, only: int | None = None, progress: bool = False) -> Result:
    result = Result()
    link = new_link()
    start = time.perf_counter()
    indexes = [only] if only is not None else range(count)
    with Logs() as logs:
        for n, index in enumerate(indexes):
            case = make_case(seed, index, SETTINGS.max_pdu_length)
            rng = random.Random(f"{seed}:{index}:feed")
            if link.dropped or link.session.buffered or n % 2000 == 0:
                link = new_link()
            try:
                outcome = run_case(link, case, rng, logs)
            except ViolationError as exc:
                outcome = "VIOLATION"
                result.violations.append((index, case.cls, case.data, str(exc)))
                link = new_link()
            except Exception as exc:  # anything escaping is a violation too
                outcome = "VIOLATION"
                result.violations.append(
                    (index, case.cls, case.data, f"{type(exc).__name__}: {exc}")
                )
                link = new_link()
            result.by_class.setdefault(case.cls, collections.Counter())[outcome] += 1
            result.count += 1
            if progress and result.count % 100_000 == 0:
                print(f"  {result.count} inputs, {len(result.violations)} violations", flush=True)
    result.seconds = time.perf_counter() - start
    return result


if __name__ == "__main__":
    sys.exit(main())
