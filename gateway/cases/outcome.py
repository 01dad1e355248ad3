"""The citizen told the outcome: the SMS text (no officer names) and when it may go out."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.cases.settings import CaseSettings

VERDICTS = {
    True: ("情况属实", "已责成相关单位整改落实"),
    False: ("未发现民警存在过错", "已安排专人向您说明情况"),
}


def outcome_text(settings: CaseSettings, opened_at: datetime, substantiated: bool) -> str:
    local = opened_at.astimezone(settings.zone)
    verdict, action = VERDICTS[substantiated]
    return settings.outcome_template.format(
        sign=settings.outcome_sign,
        date=f"{local.month}月{local.day}日",
        verdict=verdict,
        action=action,
    )


def next_sending_time(now: datetime, windows: list[tuple[time, time]], zone: ZoneInfo) -> datetime:
    """``now`` when inside one of the daily windows, else the next window's start."""
    if not windows:
        return now
    local = now.astimezone(zone)
    for day in range(0, 8):
        date = local.date() + timedelta(days=day)
        for start, end in sorted(windows):
            opens = datetime.combine(date, start, tzinfo=zone)
            closes = datetime.combine(date, end, tzinfo=zone)
            if day == 0 and opens <= local < closes:
                return now
            if opens > local:
                return opens.astimezone(now.tzinfo)
    return now
