"""The case's states and which action may be taken in which: the table both the lifecycle and
the permission checks read, so a button the console shows is one the lifecycle accepts.

open → verifying → substantiated (属实) | unsubstantiated (不属实, final) → rectifying →
under_review → closed (accepted) | rectifying (退回, returned).
"""

from __future__ import annotations

OPEN = "open"
VERIFYING = "verifying"
SUBSTANTIATED = "substantiated"
UNSUBSTANTIATED = "unsubstantiated"
RECTIFYING = "rectifying"
UNDER_REVIEW = "under_review"
CLOSED = "closed"

STATES = (OPEN, VERIFYING, SUBSTANTIATED, UNSUBSTANTIATED, RECTIFYING, UNDER_REVIEW, CLOSED)
FINAL = frozenset({UNSUBSTANTIATED, CLOSED})

# Actions on a case (what a person does; the lifecycle's events carry the details).
ASSIGN = "case.assign"  # change the handling unit or the due date
START_VERIFY = "case.start_verify"  # 开始核查
FIND = "case.find"  # record the finding: substantiated (officers, finding) or not (reason)
EDIT_OFFICERS = "case.edit_officers"  # correct the responsible officers of a substantiated case
RECTIFY = "case.rectify"  # record measures taken / attach evidence
SUBMIT = "case.submit"  # hand the rectification in for review (the unit signs it off)
REVIEW = "case.review"  # accept (closes) or return (退回) the rectification
NOTE = "case.note"  # a remark on the timeline

#: state -> the actions the lifecycle accepts in it.
ACTIONS_IN_STATE: dict[str, frozenset[str]] = {
    OPEN: frozenset({ASSIGN, START_VERIFY, NOTE}),
    VERIFYING: frozenset({ASSIGN, FIND, NOTE}),
    SUBSTANTIATED: frozenset({ASSIGN, EDIT_OFFICERS, RECTIFY, NOTE}),
    UNSUBSTANTIATED: frozenset({NOTE}),
    RECTIFYING: frozenset({ASSIGN, EDIT_OFFICERS, RECTIFY, SUBMIT, NOTE}),
    UNDER_REVIEW: frozenset({REVIEW, NOTE}),
    CLOSED: frozenset({NOTE}),
}

CASE_ACTIONS = frozenset().union(*ACTIONS_IN_STATE.values())
