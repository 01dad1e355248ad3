"""``pingjing replies classify``: read reply texts on stdin, print how each is read (JSON lines).

The same classifier the gateway uses, so an operator can check a disputed reading.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("replies", help="citizen replies: classify texts")
    sub = parser.add_subparsers(dest="replies_command", metavar="ACTION", required=True)
    cls = sub.add_parser(
        "classify", help="read texts from standard input, one per line; print JSON lines"
    )
    cls.set_defaults(func=classify_command)


def classify_stream(source: TextIO, sink: TextIO) -> int:
    from gateway.surveys.classifier import classify

    count = 0
    for line in source:
        text = line.rstrip("\r\n")
        sink.write(json.dumps(classify(text).as_json(), ensure_ascii=False) + "\n")
        count += 1
    sink.flush()
    return count


def classify_command(args: argparse.Namespace) -> int:
    stdin = sys.stdin
    if hasattr(stdin, "reconfigure"):
        stdin.reconfigure(encoding="utf-8", errors="replace")
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")
    classify_stream(stdin, sys.stdout)
    return 0
