"""A realistic day of service events for the demo, deterministic from a seed.

Pure data: given the unit registry and a seed, which events the business systems report, when,
and which citizens opted out earlier. The mix follows what a city bureau sees: mostly incident
responses and window services, some cases; a few sensitive cases, repeat callers, landlines,
opted-out numbers and malformed records from a careless upstream system.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.simulate.seeding import rng_for

CATEGORY_WEIGHTS = {"incident": 0.40, "case": 0.15, "window": 0.35, "other": 0.10}
BUSINESSES = {
    "incident": ["110接处警", "纠纷求助", "交通事故处理", "噪音扰民"],
    "case": ["治安案件办理", "刑事案件办理", "盗窃案件"],
    "window": ["户籍办理", "身份证办理", "出入境证件办理", "机动车登记"],
    "other": ["走访群众", "消防检查", "警务咨询"],
}
#: Which kinds of unit serve which category.
SERVING_KINDS = {
    "incident": ("station", "sub_bureau"),
    "case": ("station", "department"),
    "window": ("window",),
    "other": ("station", "department", "sub_bureau"),
}
SENSITIVE_TAGS = ("domestic_violence", "juvenile", "sexual_offence")
#: Hour of the day (local) → relative number of services ending then.
HOURLY_LOAD = {
    7: 2, 8: 5, 9: 9, 10: 10, 11: 9, 12: 5, 13: 5, 14: 8, 15: 9, 16: 9,
    17: 8, 18: 6, 19: 5, 20: 4, 21: 3, 22: 2,
}  # fmt: skip


@dataclass(frozen=True)
class ServingUnit:
    code: str
    kind: str
    officers: tuple[str, ...]


@dataclass(frozen=True)
class PlannedEvent:
    send_at: datetime  # when the business system reports it (aware)
    body: dict[str, Any]


@dataclass(frozen=True)
class DayPlan:
    day: date
    events: list[PlannedEvent]
    opted_out: list[str]  # numbers that replied TD before the demo day

    @property
    def first(self) -> datetime:
        return self.events[0].send_at

    @property
    def last(self) -> datetime:
        return self.events[-1].send_at


def _mobile(rng: Any) -> str:
    return f"1{rng.choice('35789')}{rng.randrange(10**9):09d}"


def plan_day(
    day: date, units: Sequence[ServingUnit], count: int, seed: int, zone: ZoneInfo
) -> DayPlan:
    """``count`` events closing through ``day`` (local), sorted by when they are reported.

    The seed alone decides the numbers, units and times of day, not the date: a run tells the
    same story (and the tests over it hold) whichever day it is run on."""
    rng = rng_for(seed, "demo-day")
    by_kind: dict[str, list[ServingUnit]] = {}
    for unit in units:
        if unit.officers:
            by_kind.setdefault(unit.kind, []).append(unit)
    opted_out = [_mobile(rng) for _ in range(max(2, count // 60))]
    phones: list[str] = []
    hours = list(HOURLY_LOAD)
    events: list[PlannedEvent] = []
    for n in range(count):
        category = rng.choices(list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values()))[0]
        candidates = [u for kind in SERVING_KINDS[category] for u in by_kind.get(kind, [])]
        if not candidates:
            candidates = [u for group in by_kind.values() for u in group]
        unit = rng.choice(candidates)
        hour = rng.choices(hours, [HOURLY_LOAD[h] for h in hours])[0]
        closed = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), zone)
        occurred = closed - timedelta(minutes=rng.randrange(8, 150))
        roll = rng.random()
        tags: list[str] = []
        if roll < 0.08 and phones:
            phone = rng.choice(phones)  # a repeat caller
        elif roll < 0.11:
            phone = rng.choice(opted_out)
        elif roll < 0.14:
            phone = f"0877-{rng.randrange(2000000, 3000000)}"  # a landline
        else:
            phone = _mobile(rng)
            phones.append(phone)
        if rng.random() < 0.04:
            tags.append(rng.choice(SENSITIVE_TAGS))
        if category == "case" and rng.random() < 0.3:
            tags.append("arrest")
        shown = phone
        if phone.startswith("1") and rng.random() < 0.2:
            shown = f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"  # as typed by a clerk
        body: dict[str, Any] = {
            "event_id": f"{category[:2].upper()}-{day:%Y%m%d}-{n + 1:05d}",
            "category": category,
            "business": rng.choice(BUSINESSES[category]),
            "unit_code": unit.code,
            "officer_ids": rng.sample(list(unit.officers), k=min(len(unit.officers), 2)),
            "citizen_phone": shown,
            "occurred_at": occurred.isoformat(),
            "closed_at": closed.isoformat(),
            "tags": tags,
        }
        events.append(PlannedEvent(closed + timedelta(seconds=rng.randrange(5, 120)), body))
    events.extend(_malformed(day, zone, units, rng))
    events.sort(key=lambda e: e.send_at)
    return DayPlan(day, events, opted_out)


def _malformed(
    day: date, zone: ZoneInfo, units: Sequence[ServingUnit], rng: Any
) -> list[PlannedEvent]:
    """Records a careless upstream system sends: each must be refused with its reason."""
    at = datetime.combine(day, time(10, 30), zone)
    unit = next(u for u in units if u.officers)
    good = {
        "category": "window",
        "business": "户籍办理",
        "unit_code": unit.code,
        "officer_ids": [unit.officers[0]],
        "citizen_phone": _mobile(rng),
        "occurred_at": (at - timedelta(minutes=20)).isoformat(),
        "closed_at": at.isoformat(),
    }
    bad = [
        {**good, "event_id": f"BAD-{day:%Y%m%d}-1", "unit_code": "999999999999"},
        {**good, "event_id": f"BAD-{day:%Y%m%d}-2", "category": "parking"},
        {**good, "event_id": f"BAD-{day:%Y%m%d}-3", "occurred_at": "yesterday afternoon"},
    ]
    return [PlannedEvent(at + timedelta(minutes=i), body) for i, body in enumerate(bad)]
