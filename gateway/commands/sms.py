"""``pingjing sms send``: bind with the configured account, send one SMS, print one JSON object.

Operators use it to check a new SMSC link: it shows the parts, the SMSC's message ids and, with
``--wait-receipt``, the final receipt state; it exits non-zero naming the SMSC's status on
failure. It keeps its state in memory and does not touch the database: it checks the link, it
does not send surveys.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from gateway.commands.common import add_config_option, settings_from

EXIT_FAILED = 1
EXIT_USAGE = 64
EXIT_UNAVAILABLE = 69

_NUMBER = re.compile(r"^\+?\d{3,20}$")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sms", help="SMS link: send a test message through the SMSC")
    sub = parser.add_subparsers(dest="sms_command", metavar="ACTION", required=True)
    send = sub.add_parser("send", help="send one SMS and print what the SMSC said (JSON)")
    add_config_option(send)
    send.add_argument("--to", required=True, metavar="NUMBER", help="destination, e.g. 138...")
    send.add_argument("--text", required=True, help="message text (Chinese is sent as UCS2)")
    send.add_argument("--source", default=None, help="source address (default: smpp.source_addr)")
    send.add_argument(
        "--wait-receipt",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for the delivery receipt",
    )
    send.add_argument(
        "--bind-timeout",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="give up when no bind succeeds within SECONDS (default 15)",
    )
    send.set_defaults(func=send_command)


def send_command(args: argparse.Namespace) -> int:
    if not _NUMBER.match(args.to):
        print(f"pingjing sms send: --to {args.to!r} is not a phone number", file=sys.stderr)
        return EXIT_USAGE
    if not args.text:
        print("pingjing sms send: --text is empty", file=sys.stderr)
        return EXIT_USAGE
    settings = settings_from(args)
    from twisted.internet import task

    result: dict[str, Any] = {}
    code = task.react(_send, (settings.smpp, args, result))  # type: ignore[func-returns-value]
    return code if isinstance(code, int) else 0


def _send(reactor: Any, smpp_settings: Any, args: argparse.Namespace, out: dict) -> Any:
    from twisted.internet import defer

    from gateway.masking import mask_phone
    from gateway.smpp.api import OutboundSms
    from gateway.smpp.service import SmppService
    from gateway.smpp.store import MemorySmsStore

    service = SmppService(smpp_settings, MemorySmsStore(), clock=reactor)
    receipt_done: defer.Deferred[Any] = defer.Deferred()
    receipts: list[Any] = []

    def on_receipt(update: Any) -> None:
        if update.outbound_id == 1:
            receipts.append(update)
            if update.final_status is not None and not receipt_done.called:
                receipt_done.callback(update)

    service.add_receipt_observer(on_receipt)

    def emit(obj: dict, code: int) -> int:
        print(json.dumps(obj, ensure_ascii=False), flush=True)
        if code:
            raise SystemExit(code)  # task.react turns this into the process exit code
        return code

    @defer.inlineCallbacks
    def run():  # type: ignore[no-untyped-def]
        service.startService()
        report: dict[str, Any] = {"to": mask_phone(args.to), "system_id": smpp_settings.system_id}
        try:
            try:
                yield service.whenBound().addTimeout(args.bind_timeout, reactor)
            except defer.TimeoutError:
                report.update(status="unbound", error=service.last_bind_error or "no bind")
                return emit(report, EXIT_UNAVAILABLE)
            outcome = yield service.submit(OutboundSms(1, args.to, args.text, args.source))
            report.update(
                status=outcome.status,
                parts=outcome.parts,
                message_ids=list(outcome.message_ids),
                error=outcome.error,
            )
            if outcome.status != "submitted":
                print(f"pingjing sms send: {outcome.error}", file=sys.stderr)
                return emit(report, EXIT_FAILED)
            if args.wait_receipt > 0:
                try:
                    update = yield receipt_done.addTimeout(args.wait_receipt, reactor)
                    report.update(receipt_state=update.state, final_status=update.final_status)
                except defer.TimeoutError:
                    last = receipts[-1].state if receipts else None
                    report.update(receipt_state=last, final_status=None, receipt_timeout=True)
                if report.get("final_status") == "undeliverable":
                    return emit(report, EXIT_FAILED)
            return emit(report, 0)
        finally:
            yield service.stopService()

    return run()
