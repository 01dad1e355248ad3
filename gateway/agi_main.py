"""``pingjing-agi``: the AGI program Asterisk starts per answered callback, or per call to the
evaluation line (``pingjing-agi <config> inbound``), wired to storage.

``ivr.agi_callback`` and ``ivr.agi_inbound`` hold the program and know nothing of storage; this
entry point gives them the callback's result writer (``storage.callback_results``) and the
line's store (``storage.inbound_results``). Kept apart from ``gateway.commands`` so that
starting it imports no more than the call needs.
"""

from __future__ import annotations

import sys
from typing import Any

#: The second argument the ``pingjing-inbound`` dialplan context passes (dialplans/).
INBOUND_MODE = "inbound"


def line_store(cfg: Any) -> Any:
    """The evaluation line's store for the script's configuration: ``[survey]`` (reply texts,
    code digits) and the database of ``[service]``/``[database]``."""
    from gateway.configload import load_section
    from gateway.surveys.settings import SurveySettings
    from ivr.agi_callback import database_url
    from storage.inbound_results import LineStore

    survey = load_section(
        SurveySettings, cfg.data.get("survey", {}), "survey", cfg.path or "(defaults)", cfg.env
    )
    return LineStore(database_url(cfg), survey)


def run_line(agi: Any, config_path: str, env: dict[str, str], err: Any) -> tuple[Any, str]:
    from ivr.agi_inbound import run_inbound

    return run_inbound(agi, config_path, env, err, line_store)


def database_writer(url: str) -> Any:
    """``storage.callback_results.database_writer``, imported only when the call is over:
    SQLAlchemy takes a few hundred milliseconds to import, silence the citizen would hear
    before the greeting (docs/benchmarks.md)."""
    from storage.callback_results import database_writer as writer

    return writer(url)


def main(argv: list[str] | None = None) -> int:
    from ivr.agi_callback import main as agi_main

    args = sys.argv[1:] if argv is None else argv
    inbound = len(args) > 1 and args[1] == INBOUND_MODE
    return agi_main(database_writer, argv, run_line if inbound else None)


if __name__ == "__main__":
    sys.exit(main())
