"""``pingjing-agi``: the AGI program Asterisk starts per answered callback, wired to storage.

``ivr.agi_callback`` holds the program and knows nothing of storage; this entry point gives it
the result writer (``storage.callback_results.database_writer``). Kept apart from
``gateway.commands`` so that starting it imports no more than the call needs.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from ivr.agi_callback import main as agi_main
    from storage.callback_results import database_writer

    return agi_main(database_writer, argv)


if __name__ == "__main__":
    sys.exit(main())
