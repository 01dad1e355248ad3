"""``pingjing simulate history``: the seed's fourteen months, run through the real pipeline.

A city like the seed's (the sample registry: 玉溪市公安局, its district and county bureaus,
departments and stations, officers) receives service events every day from 2017-05-01 to
2018-07-10. They go through the real intake (selection), the real survey pipeline
(``SurveyPipeline`` with the SQL store: outbox, SMS outcome, receipts, reply classification,
thank-you SMS, callback tasks) and the callback store's own transaction functions for the calls
(claim, answered, the IVR's result as the AGI script writes it, call ended). Only the carrier
and the telephone are loopbacks: the SMS "SMSC" delivers at once and its citizens answer as
:class:`QuotaCitizens` say, so that the totals are exactly the seed's at full scale (139,976
SMS, 33,563 replies, 32,491 satisfied or basically satisfied, 1,072 unsatisfied), and every
unsatisfied citizen answers the callback. ``--scale`` shrinks every count (rounded).
Business time is a ``Clock`` moved day by day; the database runs on the real reactor's threads.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from twisted.internet import defer

from gateway.smpp.api import InboundSms, OutboundSms, ReceiptUpdate, SubmitOutcome

ZONE = ZoneInfo("Asia/Shanghai")
FIRST, LAST = date(2017, 5, 1), date(2018, 7, 10)
SEED = {"sent": 139_976, "replies": 33_563, "good": 32_491}
UNSATISFIED_TEXTS = (
    "3 态度很差，等了两个小时",
    "3 办事效率太低，跑了好几趟",
    "不满意，没有告知需要什么材料",
    "3 名字写错了，还要再跑一趟",
    "3 不满意",
)


@dataclass(frozen=True)
class Totals:
    sent: int
    replies: int
    good: int

    @property
    def unsatisfied(self) -> int:
        return self.replies - self.good


def totals(scale: float) -> Totals:
    if not 0 < scale <= 1:
        raise ValueError("--scale must be in (0, 1]")
    return Totals(*(round(SEED[k] * scale) for k in ("sent", "replies", "good")))


def spread(total: int, parts: int, index: int) -> int:
    """The share of ``total`` that falls to part ``index`` of ``parts`` (exact in sum)."""
    return (index + 1) * total // parts - index * total // parts


class QuotaCitizens:
    """The k-th citizen to receive a survey answers iff the quotas say so: exactly ``replies``
    of ``sent`` answer, exactly ``unsatisfied`` of those are unsatisfied, one in ten of the
    others basically satisfied; spread evenly over time (a Bresenham line, not a draw)."""

    def __init__(self, t: Totals) -> None:
        self.t = t
        self.surveys = 0
        self.repliers = 0

    def answer(self) -> str | None:
        k, self.surveys = self.surveys, self.surveys + 1
        if not spread(self.t.replies, self.t.sent, k):
            return None
        j, self.repliers = self.repliers, self.repliers + 1
        if spread(self.t.unsatisfied, self.t.replies, j):
            return UNSATISFIED_TEXTS[j % len(UNSATISFIED_TEXTS)]
        return "2 还可以" if j % 10 == 3 else "1"


class LoopbackSmsc:
    """The SMPP service contract (``gateway.smpp.api``) answered in process: every submit is
    accepted at once; the runner then hands out receipts and replies."""

    def __init__(self) -> None:
        self.submitted: list[OutboundSms] = []
        self._reply: list[Any] = []
        self._receipt: list[Any] = []

    def submit(self, sms: OutboundSms, on_answered: Any = None) -> defer.Deferred[SubmitOutcome]:
        self.submitted.append(sms)
        outcome = SubmitOutcome(sms.outbound_id, "submitted", (f"h{sms.outbound_id}",), 1)
        if on_answered is not None:
            on_answered(outcome)
        return defer.succeed(outcome)

    def add_reply_observer(self, fn: Any) -> None:
        self._reply.append(fn)

    def add_receipt_observer(self, fn: Any) -> None:
        self._receipt.append(fn)

    def add_availability_observer(self, fn: Any) -> None:
        fn(True)

    def take(self) -> list[OutboundSms]:
        out, self.submitted = self.submitted, []
        return out

    def receipt(self, update: ReceiptUpdate) -> list[Any]:
        return [fn(update) for fn in self._receipt]

    def reply(self, inbound: InboundSms) -> list[Any]:
        return [fn(inbound) for fn in self._reply]


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE).astimezone(UTC)


def plan_events(
    day: date, count: int, start: int, stations: list[tuple[str, list[str]]], rng: random.Random
) -> list[dict[str, Any]]:
    """``count`` events on ``day``, 07:00–12:00 local, at stations with officers."""
    out = []
    for i in range(count):
        code, officers = stations[rng.randrange(len(stations))]
        occurred = local(day, 7) + timedelta(seconds=int(5 * 3600 * (i + 0.5) / max(count, 1)))
        out.append(
            {
                "event_id": f"H-{start + i:07d}",
                "category": ("window", "incident", "case")[(start + i) % 3],
                "business": ("户籍业务", "出入境", "治安案件", "纠纷求助")[(start + i) % 4],
                "unit_code": code,
                "officer_ids": [officers[(start + i) % len(officers)]],
                "citizen_phone": f"13{(start + i) % 10}{start + i:08d}",
                "occurred_at": occurred.isoformat(),
                "closed_at": (occurred + timedelta(minutes=20)).isoformat(),
            }
        )
    return out
