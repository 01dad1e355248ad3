"""The demo's closing report: what a supervisor of the inspectorate would want to see.

Every figure comes from the database through the same queries the export commands use
(``storage.reports``, ``storage.survey_export.survey_records``,
``storage.callback_export.callback_records``), so each can be checked with
``pingjing export surveys`` / ``pingjing export callbacks``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from gateway.callbacks.policy import REASON_LABELS
from gateway.events.schema import CATEGORY_LABELS

RATING_LABELS = {
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
}


def _pad(text: str, width: int) -> str:
    """Left-justify ``text`` in ``width`` terminal columns (a CJK character takes two)."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - used)


def _pct(value: float | None) -> str:
    return "  n/a" if value is None else f"{value * 100:5.1f}%"


def collect(session: Any) -> dict[str, Any]:
    from storage import reports
    from storage.callback_export import callback_records
    from storage.survey_export import survey_records

    surveys = list(survey_records(session))
    callbacks = {c["event_id"]: c for c in callback_records(session, None, None, None, None)}
    via: dict[str, int] = {}
    for record in surveys:
        if record["rated_via"]:
            via[record["rated_via"]] = via.get(record["rated_via"], 0) + 1
    return {
        "rated_via": via,
        "later_ratings": sum(
            len(r["later_ratings"].split(",")) for r in surveys if r["later_ratings"]
        ),
        "line": _line_calls(session),
        "overview": reports.overview(session),
        "by_category": reports.satisfaction_by(session, "category"),
        "by_unit": reports.satisfaction_by(session, "unit"),
        "unsatisfied": [s for s in surveys if s["rating"] == "unsatisfied"],
        "callbacks": callbacks,
    }


def _line_calls(session: Any) -> dict[str, int]:
    """Calls to the evaluation line: all, those that rated (counted), complaints, turned away."""
    import sqlalchemy as sa

    from storage import models as m

    calls = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(m.PhoneCall.rating),
            sa.func.sum(sa.case((m.PhoneCall.counted, 1), else_=0)),
            sa.func.sum(sa.case((m.PhoneCall.busy, 1), else_=0)),
        )
    ).one()
    complaints = session.scalar(sa.select(sa.func.count()).select_from(m.Complaint))
    return {
        "calls": calls[0],
        "rated": calls[1],
        "counted": calls[2] or 0,
        "busy": calls[3] or 0,
        "complaints": complaints or 0,
    }


def print_summary(run: Any, say: Callable[[str], None]) -> None:
    from storage.db import Database

    db = Database(f"sqlite:///{run.out / 'pingjing.sqlite3'}")
    try:
        data = db.run_sync(collect)
    finally:
        db.stop()
    o = data["overview"]
    say("")
    say("=" * 78)
    state = "finished" if run.finished else "STOPPED before everything settled"
    say(
        f"Summary for {run.day:%Y-%m-%d} (simulated until {run.simulated_end:%Y-%m-%d %H:%M}; "
        f"{state} in {run.real_seconds:.0f} s real time)"
    )
    say("=" * 78)
    f = run.feed
    say(
        f"Events sent by the business systems: {f.sent}; stored {o.events}, "
        f"duplicates {f.duplicate}, refused {len(f.rejected)}"
    )
    for event_id, reason in sorted(f.rejected):
        say(f"    refused {event_id}: {reason}")
    say("Decisions (一事一评):")
    for decision, n in sorted(o.decisions.items(), key=lambda kv: -kv[1]):
        say(f"    {decision:<20} {n:5d}")
    survey_sms = o.sms_by_kind.get("survey", {})
    say(
        f"Evaluation SMS: sent {o.surveys_sent}, delivered {o.surveys_delivered}, "
        f"undeliverable {o.survey_status['undeliverable']}, failed {survey_sms.get('failed', 0)}"
    )
    others = {k: sum(v.values()) for k, v in o.sms_by_kind.items() if k != "survey"}
    if others:
        say("Other SMS: " + ", ".join(f"{k} {n}" for k, n in sorted(others.items())))
    say(
        f"Replies: {o.replies} surveys answered, reply rate {_pct(o.reply_rate).strip()}; "
        f"{o.inbound} messages received, {o.inbound_unmatched} unmatched, "
        f"{o.opt_outs_by_reply} opt-outs (TD/退订)"
    )
    rated = sum(o.ratings.values())
    say(
        "Ratings: "
        + ", ".join(f"{RATING_LABELS[k]} {o.ratings.get(k, 0)}" for k in RATING_LABELS)
        + f" (of {rated} rated)"
    )
    via = data["rated_via"]
    say(
        "How the ratings arrived: "
        + ", ".join(f"{k} {via.get(k, 0)}" for k in ("sms", "phone", "callback"))
        + f"; {data['later_ratings']} later rating(s) kept, not counted"
    )
    line = data["line"]
    say(
        f"Evaluation line (电话评警): {line['calls']} calls, {line['rated']} ratings keyed "
        f"({line['counted']} counted), {line['complaints']} complaints for the inspectorate, "
        f"{line['busy']} callers told the line was busy"
    )
    say("Satisfaction (满意+基本满意 over rated replies) by category:")
    for key, _, rates in data["by_category"]:
        say(
            f"    {_pad(CATEGORY_LABELS.get(key, key), 10)} {_pct(rates.satisfaction)}  "
            f"({rates.satisfied + rates.basically_satisfied}/{rates.rated})"
        )
    say("Satisfaction by unit (ranking):")
    for rank, (code, name, rates) in enumerate(data["by_unit"], 1):
        say(
            f"    {rank:2d}. {_pad(name, 18)} {code}  {_pct(rates.satisfaction)}  "
            f"({rates.satisfied + rates.basically_satisfied}/{rates.rated})"
        )
    say(f"Unsatisfied replies and their callbacks ({len(data['unsatisfied'])}):")
    for s in data["unsatisfied"]:
        cb = data["callbacks"].get(s["event_id"])
        found = "no callback task"
        if cb:
            found = f"callback {cb['status']} after {cb['attempts']} attempt(s)"
            if cb["reason"]:
                label = REASON_LABELS.get(cb["reason"], cb["reason"])
                found += f", reason {cb['reason_key']} {label} ({cb['reason']})"
            if cb["recording_path"]:
                seconds = cb["recording_seconds"]
                found += f", recording {cb['recording_path']}"
                if seconds is not None:
                    found += f" ({seconds:.1f} s)"
        comment = f" “{s['comment']}”" if s["comment"] else ""
        say(f"    {s['event_id']} {s['unit_code']} {s['phone']}{comment}")
        say(f"        → {found}")
    manual = [c for c in data["callbacks"].values() if c["status"] == "manual"]
    say(f"Manual list for supervisors ({len(manual)}): callbacks that exhausted their attempts")
    for c in manual:
        say(f"    callback {c['callback_id']} {c['event_id']} {c['unit_code']} {c['phone']}")
    say(
        "Callback tasks: "
        + ", ".join(f"{k} {n}" for k, n in sorted(o.callbacks.items()))
        + f"; {run.calls} calls placed"
    )
    say("")
    cfg = run.config
    say(f"Everything is in {run.out}/ (database, recordings/, configuration, API tokens).")
    say("Check any number above:")
    say(f"    .venv/bin/pingjing export surveys --config {cfg} --format csv")
    say(f"    .venv/bin/pingjing export callbacks --config {cfg}")
    say(f"    .venv/bin/pingjing run --config {cfg}   # HTTP API on 127.0.0.1:8080")
    say(f"    curl -H 'Authorization: Bearer <token from {run.out}/tokens.toml>' \\")
    say("         http://127.0.0.1:8080/api/v1/callbacks")
