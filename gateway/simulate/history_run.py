"""Running the seed's history (``gateway.simulate.history``) day by day against a database."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from twisted.internet import defer
from twisted.internet.task import Clock

from gateway.callbacks.settings import CallbackSettings
from gateway.cases.settings import CaseSettings
from gateway.events.schema import validate_event
from gateway.simulate.history import (
    FIRST,
    LAST,
    LoopbackSmsc,
    QuotaCitizens,
    local,
    plan_events,
    spread,
    totals,
)
from gateway.smpp.api import InboundSms, ReceiptUpdate
from gateway.surveys.pipeline import SurveyPipeline
from gateway.surveys.settings import SurveySettings
from ivr.flow import CallResult
from storage import callback_store
from storage import models as m
from storage.callback_results import write_result
from storage.events_store import store_events
from storage.survey_store import SqlSurveyStore

REASON_BY_TEXT = {"态度": "1", "效率": "2", "告知": "3", "写错": "4"}


@dataclass
class HistoryRun:
    days: int = 0
    events: int = 0
    surveys_sent: int = 0
    replies_sent: int = 0
    callbacks_completed: int = 0
    cases_worked: int = 0
    cases_substantiated: int = 0
    rejected: list[str] = field(default_factory=list)


def _stations(session: Any) -> list[tuple[str, list[str]]]:
    rows = session.execute(
        sa.select(m.Unit.code, m.Officer.police_number)
        .join(m.Officer, m.Officer.unit_id == m.Unit.id)
        .where(m.Unit.kind.in_(("station", "department", "window", "team")))
        .order_by(m.Unit.code, m.Officer.police_number)
    )
    out: dict[str, list[str]] = {}
    for code, number in rows:
        out.setdefault(code, []).append(number)
    return sorted(out.items())


def _store_inbound(session: Any, rows: list[tuple[str, str, str, datetime]]) -> list[int]:
    ids = []
    for source, dest, text, at in rows:
        row = m.InboundMessage(
            source_addr=source,
            destination_addr=dest,
            data_coding=8,
            raw_hex="",
            text=text,
            received_at=at,
        )
        session.add(row)
        session.flush()
        ids.append(row.id)
    return ids


def _call_back(session: Any, now: datetime, settings: CallbackSettings, reasons: dict) -> int:
    """Every due callback task: claimed, answered, the IVR's result written, the call ended."""
    claims, _ = callback_store.claim_due(session, now, 10_000, "history", settings)
    for claim in claims:
        callback_store.record_outcome(
            session,
            claim.attempt_id,
            channel_id=f"hist-{claim.attempt_id}",
            outcome="answered",
            reason_code=4,
            hangup_cause=None,
            now=now,
            settings=settings,
        )
        key = reasons.get(claim.phone, "5")
        write_result(
            session,
            CallResult(
                claim.task_id,
                claim.attempt_id,
                confirmed=True,
                rating=None,
                reason_key=key,
                consent=False,
                ended_how="completed",
                started_at=now.isoformat(),
                ended_at=(now + timedelta(seconds=50)).isoformat(),
            ),
            now,
        )
        callback_store.record_call_ended(
            session,
            claim.attempt_id,
            hangup_cause=16,
            now=now + timedelta(seconds=55),
            settings=settings,
        )
    return len(claims)


INSPECTOR = SimpleNamespace(name="督察支队", unit="", role="inspector")
HANDLER = SimpleNamespace(name="整改责任人", unit="", role="handler")


def _work_cases(session: Any, now: datetime, settings: CaseSettings) -> tuple[int, int]:
    """Every open case: verified; two in three substantiated (the event's officers), rectified,
    submitted and accepted; the others found unsubstantiated. Through the case store's ``act``
    (the lifecycle, the permission check, the timeline), as the console's users would."""
    from gateway.cases import lifecycle as lc
    from storage.case_models import Case
    from storage.case_store import act

    rows = session.execute(
        sa.select(Case.id, Case.event_id).where(Case.state == "open").order_by(Case.id)
    ).all()
    substantiated = 0
    for case_id, event_pk in rows:
        at = now
        act(session, INSPECTOR, case_id, lc.StartVerify("督察支队", at, None), settings)
        officers = tuple(
            session.scalars(
                sa.select(m.Officer.police_number)
                .join(m.event_officers, m.event_officers.c.officer_id == m.Officer.id)
                .where(m.event_officers.c.event_id == event_pk)
            )
        )
        if case_id % 3 and officers:
            at += timedelta(hours=1)
            act(
                session,
                INSPECTOR,
                case_id,
                lc.Substantiate("督察支队", at, None, officers, "经核查，群众反映属实"),
                settings,
            )
            act(
                session,
                HANDLER,
                case_id,
                lc.Rectify("整改责任人", at, None, "批评教育，当面向群众致歉"),
                settings,
            )
            act(session, HANDLER, case_id, lc.Submit("整改责任人", at, None), settings)
            act(session, INSPECTOR, case_id, lc.Accept("督察支队", at, None), settings)
            substantiated += 1
        else:
            act(
                session,
                INSPECTOR,
                case_id,
                lc.Unsubstantiate("督察支队", at, None, "经核查，与事实不符"),
                settings,
            )
    return len(rows), substantiated


@defer.inlineCallbacks
def run_history(
    db: Any,
    *,
    scale: float,
    seed: int = 1,
    first: date = FIRST,
    last: date = LAST,
    survey: SurveySettings | None = None,
    callbacks: CallbackSettings | None = None,
    cases: CaseSettings | None = None,
    say: Any = print,
) -> Any:
    t = totals(scale)
    survey = survey or SurveySettings()
    callbacks = callbacks or CallbackSettings()
    cases = cases or CaseSettings()
    rng = random.Random(seed)
    days = (last - first).days + 1
    clock = Clock()
    clock.advance(local(first, 6).timestamp())
    smsc = LoopbackSmsc()
    citizens = QuotaCitizens(t)
    pipeline = SurveyPipeline(db, smsc, survey, store=SqlSurveyStore(), clock=clock)
    stations = yield db.run(_stations)
    result = HistoryRun()
    surveyed: set[str] = set()
    reasons: dict[str, str] = {}
    pipeline.startService()
    try:
        for index in range(days):
            day = first + timedelta(days=index)
            count = spread(t.sent, days, index)
            result.days += 1
            if not count:
                continue
            clock.advance(local(day, 13).timestamp() - clock.seconds())
            now = datetime.fromtimestamp(clock.seconds(), UTC)
            bodies = plan_events(day, count, result.events, stations, rng)
            events = [validate_event(b, now=now) for b in bodies]
            stored = yield db.run(
                lambda s, ev=events, at=now: store_events(
                    s, ev, source="file", settings=survey, now=at
                )
            )
            result.events += len(events)
            result.rejected += [r.event_id for r in stored if r.status != "accepted"]
            pipeline.kick()
            yield pipeline.idle()
            sent = [s for s in smsc.take() if s.destination not in surveyed]
            surveyed.update(s.destination for s in sent)
            result.surveys_sent += len(sent)
            for sms in sent:
                smsc.receipt(
                    ReceiptUpdate(
                        sms.outbound_id, f"h{sms.outbound_id}", "DELIVRD", "delivered", now, now
                    )
                )
            yield pipeline.idle()
            answers = [(sms, citizens.answer()) for sms in sent]
            answers = [(sms, text) for sms, text in answers if text]
            at = now + timedelta(minutes=10)
            rows = [
                ("86" + sms.destination, sms.source_addr or "10690000", text, at)
                for sms, text in answers
            ]
            ids = yield db.run(_store_inbound, rows)
            clock.advance(600)
            for inbound_id, (sms, text) in zip(ids, answers, strict=True):
                smsc.reply(
                    InboundSms(
                        inbound_id,
                        "86" + sms.destination,
                        sms.source_addr or "10690000",
                        text,
                        False,
                        at,
                    )
                )
                if text.startswith(("3", "不满意")):
                    reasons[sms.destination] = next(
                        (k for w, k in REASON_BY_TEXT.items() if w in text), "5"
                    )
            result.replies_sent += len(answers)
            yield pipeline.idle()
            late = [s for s in smsc.take() if s.destination not in surveyed]  # not thank-yous
            if late:
                raise RuntimeError(f"{len(late)} survey SMS sent after the day's round")
            clock.advance(local(day, 15).timestamp() - clock.seconds())
            call_at = datetime.fromtimestamp(clock.seconds(), UTC)
            result.callbacks_completed += yield db.run(_call_back, call_at, callbacks, reasons)
            worked, found = yield db.run(_work_cases, call_at + timedelta(hours=1), cases)
            result.cases_worked += worked
            result.cases_substantiated += found
            if index % 30 == 0 or index == days - 1:
                say(
                    f"  {day}: {result.events:,} events, {result.surveys_sent:,} SMS, "
                    f"{result.replies_sent:,} replies, {result.callbacks_completed:,} callbacks"
                )
        clock.advance(local(last + timedelta(days=4), 12).timestamp() - clock.seconds())
        pipeline.kick()  # reply windows close: the silent surveys expire
        yield pipeline.idle()
    finally:
        yield pipeline.stopService()
    return result
