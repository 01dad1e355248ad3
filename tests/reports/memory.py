"""A small city on the in-memory report store, shared by the report tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.reports.store import InMemoryReportStore, SurveyFact, UnitNode

ZONE = ZoneInfo("Asia/Shanghai")

UNITS = [
    UnitNode("530400", "玉溪市公安局", None, "city_bureau"),
    UnitNode("HT", "红塔分局", "530400", "sub_bureau"),
    UnitNode("HT01", "玉兴派出所", "HT", "station"),
    UnitNode("JC", "江川分局", "530400", "sub_bureau"),
    UnitNode("CJ", "澄江县公安局", "530400", "county_bureau"),
    UnitNode("JJ", "交警支队", "530400", "department"),
]


def local(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ZONE).astimezone(UTC)


def replies(unit: str, day: date, satisfied: int, unsatisfied: int, basic: int = 0):
    """Facts for replied surveys on one local day."""
    out = []
    for rating, n in (
        ("satisfied", satisfied),
        ("basically_satisfied", basic),
        ("unsatisfied", unsatisfied),
    ):
        for k in range(n):
            out.append(
                SurveyFact(
                    unit,
                    local(day) + timedelta(minutes=k),
                    sent=True,
                    delivered=True,
                    replied=True,
                    rating=rating,
                    officers=(("P" + unit, "民警" + unit),),
                    callback_status="completed" if rating == "unsatisfied" else None,
                )
            )
    return out


def city() -> InMemoryReportStore:
    return InMemoryReportStore(unit_nodes=list(UNITS))
