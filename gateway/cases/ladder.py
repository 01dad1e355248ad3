"""The accountability ladder (问责): proposals from substantiated cases, decided by people.

"对不满意回复经查证属实负有责任的民警，第一次作通报批评，第二次作书面检查，第三次以上予以纪律处分，
同时对负有责任的主要领导、分管领导予以问责." Per officer, the substantiated cases of the period
(default: the calendar year) are counted in the order they were found: the n-th one proposes
step n; each also flags the officer's unit's 主要领导 and 分管领导. Unsubstantiated cases never
count. Nothing is applied: an inspector records a decision (as proposed, changed with a
reason, dismissed with a reason). Pure: the store passes the cases and the leaders in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NOTICE = "notice"  # 通报批评
WRITTEN_REVIEW = "written_review"  # 书面检查
DISCIPLINE = "discipline"  # 纪律处分
ACCOUNTABILITY = "accountability"  # 问责 (of the unit's leaders)
MEASURES = {
    NOTICE: "通报批评",
    WRITTEN_REVIEW: "书面检查",
    DISCIPLINE: "纪律处分",
    ACCOUNTABILITY: "问责",
}
SUBJECTS = ("officer", "principal", "deputy")
DECISIONS = ("as_proposed", "changed", "dismissed")


def measure_for(step: int) -> str:
    return NOTICE if step == 1 else WRITTEN_REVIEW if step == 2 else DISCIPLINE


@dataclass(frozen=True)
class Substantiated:
    """One responsible officer of one substantiated case."""

    case_id: int
    police_number: str
    officer_name: str
    unit_code: str
    substantiated_at: datetime


@dataclass(frozen=True)
class Leader:
    police_number: str
    name: str
    role: str  # principal | deputy


@dataclass(frozen=True)
class Proposal:
    subject: str  # officer | principal | deputy
    police_number: str  # who the proposal is about
    name: str
    unit_code: str
    case_id: int  # the case that triggered it
    step: int  # the officer's n-th substantiated case in the period
    proposed: str  # notice | written_review | discipline | accountability
    case_ids: tuple[int, ...]  # the evidence: the officer's substantiated cases so far
    about: str | None = None  # for a leader: the responsible officer's police number
    decision: Mapping[str, object] | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.police_number, self.subject, self.case_id)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    label: str


def period_of(setting: str, now: datetime, zone: ZoneInfo) -> Period:
    """``year``: the calendar year of ``now`` (local); ``N``: the N days up to ``now``."""
    local = now.astimezone(zone)
    if setting == "year":
        start = datetime.combine(date(local.year, 1, 1), time(0), tzinfo=zone)
        end = datetime.combine(date(local.year + 1, 1, 1), time(0), tzinfo=zone)
        return Period(start, end, str(local.year))
    days = int(setting)
    first = local.date() - timedelta(days=days - 1)
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    return Period(start, end, f"{first.isoformat()}..{local.date().isoformat()}")


def propose(
    found: Iterable[Substantiated],
    leaders: Mapping[str, Sequence[Leader]],
    period: Period,
) -> list[Proposal]:
    """Every proposal the period's substantiated cases make, by officer then step."""
    by_officer: dict[str, list[Substantiated]] = {}
    for item in found:
        if period.start <= item.substantiated_at < period.end:
            by_officer.setdefault(item.police_number, []).append(item)
    proposals: list[Proposal] = []
    for number in sorted(by_officer):
        items = sorted(by_officer[number], key=lambda i: (i.substantiated_at, i.case_id))
        seen: list[int] = []
        step = 0
        for item in items:
            if item.case_id in seen:
                continue
            seen.append(item.case_id)
            step += 1
            evidence = tuple(seen)
            proposals.append(
                Proposal(
                    "officer",
                    number,
                    item.officer_name,
                    item.unit_code,
                    item.case_id,
                    step,
                    measure_for(step),
                    evidence,
                )
            )
            for leader in leaders.get(item.unit_code, ()):
                if leader.police_number == number:
                    continue  # a leader who is the responsible officer is on the ladder already
                proposals.append(
                    Proposal(
                        leader.role,
                        leader.police_number,
                        leader.name,
                        item.unit_code,
                        item.case_id,
                        step,
                        ACCOUNTABILITY,
                        evidence,
                        about=number,
                    )
                )
    return proposals


class DecisionError(ValueError):
    """A decision that cannot be recorded as given; the message says why."""


def check_decision(decision: str, measure: str | None, reason: str | None) -> str | None:
    """The measure decided (``None`` when dismissed); raises :class:`DecisionError`."""
    if decision not in DECISIONS:
        raise DecisionError(f"decision {decision!r} is not one of {', '.join(DECISIONS)}")
    if decision in ("changed", "dismissed") and not (reason and reason.strip()):
        raise DecisionError(f"a {decision} decision needs the reason")
    if decision == "changed":
        if measure not in MEASURES:
            raise DecisionError(f"measure {measure!r} is not one of {', '.join(MEASURES)}")
        return measure
    return None
