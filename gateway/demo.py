"""The demo: a fresh embedded installation that runs the whole loop and explains what it did."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

CONF = Path(__file__).resolve().parents[1] / "conf"


def say(text: str = "") -> None:
    print(text, flush=True)


def run_demo(out: Path, *, events: int, seed: int) -> int:
    from storage import migrate
    from storage.db import Database
    from storage.units import import_file

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    url = f"sqlite:///{out / 'pingjing.sqlite3'}"
    say(f"pingjing demo: everything goes to {out}/")
    migrate.upgrade(url)
    say(f"  database created: {out / 'pingjing.sqlite3'} (schema {migrate.current_revision(url)})")
    db = Database(url)
    try:
        for name in ("units.csv", "officers.csv"):
            report = db.run_sync(import_file, (CONF / name).read_text(encoding="utf-8"), name)
            if report.errors:
                for error in report.errors:
                    print(error, file=sys.stderr)
                return 1
            say(f"  loaded {report.created} {report.kind} from conf/{name}")
    finally:
        db.stop()
    return 0
