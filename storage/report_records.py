"""The report records in SQL: 约谈 proposals and decisions, assessment adjustments, the archive.

Plain functions taking the session first, bound as methods of ``storage.report_store``'s
``SqlReportStore``. A confirmed discipline interview with a deduction writes the matching
assessment adjustment in the same transaction, so the annual sheet cannot miss it.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.reports.consequences import InterviewProposal
from gateway.reports.store import ArchivedReport
from gateway.reports.store import Interview as InterviewRecord
from storage.models import AssessmentAdjustment, Interview, ReportFile

DECISIONS = ("confirmed", "dismissed")


def _record(row: Interview) -> InterviewRecord:
    return InterviewRecord(
        row.id,
        row.unit_code,
        row.month,
        row.kind,
        tuple(row.interviewees or ()),
        row.deduction,
        row.status,
        row.created_at,
        row.decided_by,
        row.decided_at,
    )


def save_proposals(
    tx: Session, proposals: list[InterviewProposal], now: datetime
) -> list[InterviewRecord]:
    months = sorted({p.month for p in proposals})
    if not months:
        return []
    known = {
        (u, mo, k)
        for u, mo, k in tx.execute(
            sa.select(Interview.unit_code, Interview.month, Interview.kind).where(
                Interview.month.in_(months)
            )
        )
    }
    for p in proposals:
        if (p.unit_code, p.month, p.kind) in known:
            continue
        tx.add(
            Interview(
                unit_code=p.unit_code,
                month=p.month,
                kind=p.kind,
                interviewees=list(p.interviewees),
                deduction=p.deduction,
                status="proposed",
                created_at=now,
            )
        )
        known.add((p.unit_code, p.month, p.kind))
    tx.flush()
    rows = tx.scalars(
        sa.select(Interview).where(Interview.month.in_(months)).order_by(Interview.id)
    )
    return [_record(r) for r in rows]


def interviews(tx: Session, month: str | None = None) -> list[InterviewRecord]:
    query = sa.select(Interview).order_by(Interview.month, Interview.id)
    if month is not None:
        query = query.where(Interview.month == month)
    return [_record(r) for r in tx.scalars(query)]


def decide_interview(
    tx: Session, interview_id: int, status: str, actor: str, now: datetime
) -> InterviewRecord | None:
    """Confirm or dismiss a proposal once; a decided record is returned unchanged."""
    if status not in DECISIONS:
        raise ValueError(f"status must be one of {DECISIONS}, not {status!r}")
    row = tx.get(Interview, interview_id, with_for_update=True)
    if row is None:
        return None
    if row.status == "proposed":
        row.status, row.decided_by, row.decided_at = status, actor, now
        if status == "confirmed" and row.deduction:
            tx.add(
                AssessmentAdjustment(
                    unit_code=row.unit_code,
                    year=int(row.month[:4]),
                    points=-row.deduction,
                    reason=f"{row.kind} {row.month}",
                    interview_id=row.id,
                    created_at=now,
                )
            )
        tx.flush()
    return _record(row)


def adjustments(tx: Session, year: int) -> dict[str, float]:
    """unit code -> the sum of its assessment adjustments in ``year``."""
    rows = tx.execute(
        sa.select(AssessmentAdjustment.unit_code, sa.func.sum(AssessmentAdjustment.points))
        .where(AssessmentAdjustment.year == year)
        .group_by(AssessmentAdjustment.unit_code)
    )
    return {code: float(points) for code, points in rows}


def _archived(row: ReportFile) -> ArchivedReport:
    return ArchivedReport(
        row.id,
        row.kind,
        row.period_key,
        row.unit_code,
        row.fmt,
        row.path,
        row.size_bytes,
        row.sha256,
        row.created_at,
        tuple(row.delivered_to or ()),
    )


def archive(tx: Session, report: ArchivedReport) -> ArchivedReport:
    row = ReportFile(
        kind=report.kind,
        period_key=report.period_key,
        unit_code=report.unit_code,
        fmt=report.fmt,
        path=report.path,
        size_bytes=report.size_bytes,
        sha256=report.sha256,
        delivered_to=list(report.delivered_to),
        created_at=report.created_at,
    )
    tx.add(row)
    tx.flush()
    return _archived(row)


def archived(tx: Session, kind: str | None = None) -> list[ArchivedReport]:
    query = sa.select(ReportFile).order_by(ReportFile.id.desc())
    if kind is not None:
        query = query.where(ReportFile.kind == kind)
    return [_archived(r) for r in tx.scalars(query)]


def archived_one(tx: Session, report_id: int) -> ArchivedReport | None:
    row = tx.get(ReportFile, report_id)
    return None if row is None else _archived(row)
