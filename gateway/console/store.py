"""What the console reads, as an interface (``storage/console_store.py`` implements it).

Every method is one transaction and returns a Deferred; ``unit_ids`` is always already
narrowed to the signed-in user's scope (``None``: every unit). Lists are paged on the server by
id (``after``), so no page costs more than its own rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from twisted.internet import defer

from gateway.http.store import AuditRecord, CallbackQuery, RecordingTarget, UnitIds

#: Survey statuses as the console names them (docs/surveys.md).
SURVEY_STATUSES = {
    "pending": "待发送",
    "withdrawn": "已撤回",
    "failed": "发送失败",
    "sent": "已发送",
    "delivered": "已送达",
    "expired": "未回复",
    "undeliverable": "无法送达",
    "replied": "已评价",
    "opted_out": "已退订",
}
RATINGS = {
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
}
CALLBACK_STATUSES = {
    "pending": "待回访",
    "in_progress": "回访中",
    "completed": "已完成",
    "wrong_person": "非本人",
    "no_input": "未按键",
    "manual": "转人工",
    "opted_out": "已退订",
}


@dataclass(frozen=True)
class SurveyQuery:
    unit_ids: UnitIds
    start: datetime | None = None
    end: datetime | None = None
    status: str | None = None
    rating: str | None = None
    after: int = 0
    limit: int = 50


@dataclass
class Figures:
    """One period's numbers for a scope."""

    sent: int = 0
    replied: int = 0
    satisfied: int = 0
    unsatisfied: int = 0
    callbacks_due: int = 0
    callbacks_overdue: int = 0

    @property
    def reply_rate(self) -> float | None:
        return self.replied / self.sent if self.sent else None

    @property
    def satisfaction(self) -> float | None:
        rated = self.satisfied + self.unsatisfied
        return self.satisfied / rated if rated else None


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    before: int | None = None
    limit: int = 50


class ConsoleStore(Protocol):
    def unit_tree(self) -> defer.Deferred[Any]:
        """The units as a ``gateway.accounts.permissions.UnitTree`` (with ``in``)."""

    def subtrees(self, codes: Sequence[str]) -> defer.Deferred[dict[str, UnitIds]]: ...

    def units(self, unit_ids: UnitIds) -> defer.Deferred[list[tuple[str, str]]]:
        """``(code, name)`` of the units in scope, for the filters."""

    def figures(
        self, unit_ids: UnitIds, periods: Sequence[tuple[datetime, datetime]]
    ) -> defer.Deferred[list[Figures]]:
        """Each period's figures, in one pass over the surveys of the whole span."""

    def unit_figures(
        self, periods: Sequence[tuple[datetime, datetime]]
    ) -> defer.Deferred[list[dict[int, Figures]]]:
        """Per period, unit id -> that unit's figures (for every unit: the trend rollup)."""

    def surveys(self, query: SurveyQuery) -> defer.Deferred[list[dict[str, Any]]]: ...

    def callbacks(self, query: CallbackQuery) -> defer.Deferred[list[dict[str, Any]]]: ...

    def recording(self, recording_id: int) -> defer.Deferred[RecordingTarget | None]: ...

    def audit(self, record: AuditRecord) -> defer.Deferred[None]: ...

    def audit_rows(self, query: AuditQuery) -> defer.Deferred[list[dict[str, Any]]]:
        """Audit rows newest first, before id ``query.before``."""
