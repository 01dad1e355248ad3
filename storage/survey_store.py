"""The survey pipeline's :class:`~gateway.surveys.store.SurveyStore` on SQLAlchemy.

Each method runs inside one transaction (``Database.run`` or a group commit) and is SQL only:
the rules live in ``gateway.surveys`` (``lifecycle``, ``replies``, ``outbox``); the modules
below load the rows the rules need, apply them and write what they decided, so that e.g. an
unsatisfied rating and its callback task are committed together.

- ``storage.survey_outbox``: queue, claim, next due time
- ``storage.survey_progress``: submit outcomes, receipts, the reply window, crash recovery
- ``storage.survey_replies``: a batch of replies
- ``storage.survey_export``: the export and the longest names
- ``storage.survey_rows``: survey rows as lifecycle records
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from gateway.cases.settings import CaseSettings
from gateway.smpp.api import InboundSms, ReceiptUpdate, SubmitOutcome
from gateway.surveys.classifier import Reading
from gateway.surveys.replies import ReplyOutcome
from gateway.surveys.settings import SurveySettings
from storage.survey_export import EXPORT_FIELDS, longest_names, survey_records
from storage.survey_outbox import claim_due, next_due_at, queue_sms
from storage.survey_progress import (
    apply_receipts,
    expire_surveys,
    record_outcomes,
    recover_interrupted,
    settle_with_sms,
)
from storage.survey_replies import apply_replies, unprocessed_replies

__all__ = [
    "EXPORT_FIELDS",
    "SqlSurveyStore",
    "apply_receipt",
    "apply_receipts",
    "apply_replies",
    "apply_reply",
    "claim_due",
    "expire_surveys",
    "longest_names",
    "next_due_at",
    "queue_sms",
    "record_outcome",
    "record_outcomes",
    "recover_interrupted",
    "settle_with_sms",
    "survey_records",
    "unprocessed_replies",
]


def record_outcome(
    session: Session, outcome: SubmitOutcome, now: datetime, settings: SurveySettings
) -> None:
    """One submit outcome (``record_outcomes`` of one)."""
    record_outcomes(session, [outcome], now, settings)


def apply_receipt(
    session: Session,
    update: ReceiptUpdate,
    now: datetime,
    settings: SurveySettings | None = None,
) -> str | None:
    """One receipt (``apply_receipts`` of one); its survey's status afterwards."""
    return apply_receipts(session, [update], now, settings or SurveySettings())[0]


def apply_reply(
    session: Session,
    inbound: InboundSms,
    reading: Reading,
    settings: SurveySettings,
    now: datetime,
) -> ReplyOutcome:
    """One reply (``apply_replies`` of one)."""
    return apply_replies(session, [(inbound, reading)], settings, now)[0]


class SqlSurveyStore:
    """The store contract as transaction functions: each takes the session first.

    ``cases``: how the supervision cases an unsatisfied rating opens are assigned and timed
    (``[cases]``; the defaults when not given)."""

    def __init__(self, cases: CaseSettings | None = None) -> None:
        self.cases = cases

    def apply_replies(
        self,
        session: Session,
        replies: list[tuple[InboundSms, Reading]],
        settings: SurveySettings,
        now: datetime,
    ) -> list[ReplyOutcome]:
        return apply_replies(session, replies, settings, now, self.cases)

    claim_due = staticmethod(claim_due)
    next_due_at = staticmethod(next_due_at)
    record_outcomes = staticmethod(record_outcomes)
    apply_receipts = staticmethod(apply_receipts)
    settle_with_sms = staticmethod(settle_with_sms)
    expire_surveys = staticmethod(expire_surveys)
    recover_interrupted = staticmethod(recover_interrupted)
    unprocessed_replies = staticmethod(unprocessed_replies)
    longest_names = staticmethod(longest_names)
