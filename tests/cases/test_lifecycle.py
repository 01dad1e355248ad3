"""The case lifecycle: every allowed and every forbidden transition, versions, deadlines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.cases import lifecycle as lc
from gateway.cases import states as cs

T0 = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)
D = lc.Deadlines(lambda at, days: at + timedelta(days=days * 10))


def case(state: str = cs.OPEN, **kw) -> lc.CaseRecord:
    base = lc.CaseRecord(1, state, "S1", "P1", T0, due_at=T0 + timedelta(days=30))
    return replace(base, **kw)


def ev(kind: type, **kw):
    defaults = {"actor": "li", "at": T0 + timedelta(hours=1), "version": None}
    return kind(**{**defaults, **kw})


EXAMPLES = {
    lc.Assign: {"unit_code": "S2", "reason": "管辖调整"},
    lc.StartVerify: {},
    lc.Substantiate: {"officers": ("100015",), "finding": "接警后未及时出警"},
    lc.Unsubstantiate: {"reason": "经调取录音，民警处置规范"},
    lc.EditOfficers: {"officers": ("100016",), "reason": "更正"},
    lc.Rectify: {"measure": "约谈民警"},
    lc.Submit: {"note": "已整改"},
    lc.Accept: {},
    lc.Return: {"reason": "整改不到位"},
    lc.Note: {"text": "已电话联系"},
}

#: (state, event) -> the state it leads to; every pair not listed is refused.
ALLOWED = {
    (cs.OPEN, lc.Assign): cs.OPEN,
    (cs.OPEN, lc.StartVerify): cs.VERIFYING,
    (cs.VERIFYING, lc.Assign): cs.VERIFYING,
    (cs.VERIFYING, lc.Substantiate): cs.SUBSTANTIATED,
    (cs.VERIFYING, lc.Unsubstantiate): cs.UNSUBSTANTIATED,
    (cs.SUBSTANTIATED, lc.Assign): cs.SUBSTANTIATED,
    (cs.SUBSTANTIATED, lc.EditOfficers): cs.SUBSTANTIATED,
    (cs.SUBSTANTIATED, lc.Rectify): cs.RECTIFYING,
    (cs.RECTIFYING, lc.Assign): cs.RECTIFYING,
    (cs.RECTIFYING, lc.EditOfficers): cs.RECTIFYING,
    (cs.RECTIFYING, lc.Rectify): cs.RECTIFYING,
    (cs.RECTIFYING, lc.Submit): cs.UNDER_REVIEW,
    (cs.UNDER_REVIEW, lc.Accept): cs.CLOSED,
    (cs.UNDER_REVIEW, lc.Return): cs.RECTIFYING,
    **{(state, lc.Note): state for state in cs.STATES},
}


def ready(state: str) -> lc.CaseRecord:
    """A case in ``state`` with what that state implies (measures once rectifying)."""
    if state in (cs.RECTIFYING, cs.UNDER_REVIEW, cs.CLOSED):
        return case(state, officers=("100015",), measures=("约谈",))
    if state == cs.SUBSTANTIATED:
        return case(state, officers=("100015",))
    return case(state)


@pytest.mark.parametrize("state", cs.STATES)
@pytest.mark.parametrize("kind", list(EXAMPLES), ids=lambda k: k.__name__)
def test_every_pair_of_state_and_event(state, kind):
    """Each (state, event) is allowed exactly as the table says; a refusal changes nothing
    and says why."""
    record = ready(state)
    step = lc.advance(record, ev(kind, **EXAMPLES[kind]), D)
    if (state, kind) in ALLOWED:
        assert step.refused is None
        assert step.record.state == ALLOWED[(state, kind)]
        assert step.record.version == record.version + 1
        transition = step.outputs[0]
        assert isinstance(transition, lc.Transition)
        assert (transition.from_state, transition.to_state, transition.actor) == (
            state,
            step.record.state,
            "li",
        )
    else:
        assert step.record is record and step.outputs == ()
        assert state in step.refused and "not possible" in step.refused


def test_the_table_matches_the_states_module():
    """The permission module and the lifecycle read the same table."""
    for state in cs.STATES:
        from_table = {
            lc.ACTION_OF[kind] for (s, kind) in ALLOWED if s == state and kind in lc.ACTION_OF
        }
        assert from_table == cs.ACTIONS_IN_STATE[state]


def test_a_stale_version_is_a_conflict_and_changes_nothing():
    """Two inspectors read version 1; the first one's finding wins, the second is told."""
    record = case(cs.VERIFYING)
    first = lc.advance(record, ev(lc.Substantiate, version=1, **EXAMPLES[lc.Substantiate]), D)
    assert first.record.version == 2
    second = lc.advance(first.record, ev(lc.Unsubstantiate, version=1, reason="不属实"), D)
    assert second.conflict and second.record is first.record
    assert "changed since you read it" in second.refused


@pytest.mark.parametrize(
    "kind,fields,message",
    [
        (lc.Substantiate, {"officers": (), "finding": "x"}, "responsible officer"),
        (lc.Substantiate, {"officers": ("1",), "finding": " "}, "finding"),
        (lc.Unsubstantiate, {"reason": ""}, "reason"),
    ],
)
def test_a_finding_needs_its_substance(kind, fields, message):
    step = lc.advance(case(cs.VERIFYING), ev(kind, **fields), D)
    assert step.refused and message in step.refused and step.record.state == cs.VERIFYING


def test_submitting_needs_a_measure_and_a_return_needs_a_reason():
    assert "measures" in lc.advance(case(cs.RECTIFYING), ev(lc.Submit), D).refused
    under = ready(cs.UNDER_REVIEW)
    assert "reason" in lc.advance(under, ev(lc.Return, reason=" "), D).refused


def test_deadlines_follow_each_stage_and_a_return_is_counted():
    record = ready(cs.UNDER_REVIEW)
    at = T0 + timedelta(days=2)
    returned = lc.advance(record, ev(lc.Return, at=at, reason="不到位"), D).record
    assert returned.returns == 1 and returned.due_at == at + timedelta(days=50)
    submitted = lc.advance(returned, ev(lc.Submit, at=at), D).record
    assert submitted.due_at == at + timedelta(days=30)
    closed = lc.advance(submitted, ev(lc.Accept, at=at), D).record
    assert closed.due_at is None and closed.closed_at == at
    assert not lc.is_overdue(closed, at + timedelta(days=400))


def test_opening_sets_the_verification_deadline_and_overdue_follows_it():
    step = lc.opened(
        7,
        unit_code="S1",
        event_unit_code="P1",
        at=T0,
        deadlines=D,
        actor="system",
        origin="sms_unsatisfied",
    )
    assert step.record.due_at == T0 + timedelta(days=30)
    assert step.outputs[0].to_state == cs.OPEN and step.outputs[0].reason == "sms_unsatisfied"
    assert not lc.is_overdue(step.record, T0 + timedelta(days=29))
    assert lc.is_overdue(step.record, T0 + timedelta(days=30))


@pytest.mark.parametrize("consent", [True, False, None])
def test_outcome_sms_is_due_only_with_consent(consent):
    """Closing, or finding it unsubstantiated, tells the citizen only when they agreed."""
    closed = lc.advance(
        replace(ready(cs.UNDER_REVIEW), consent=consent, phone="13800000000"), ev(lc.Accept), D
    )
    rejected = lc.advance(
        case(cs.VERIFYING, consent=consent, phone="13800000000"),
        ev(lc.Unsubstantiate, reason="不属实"),
        D,
    )
    for step, substantiated in ((closed, True), (rejected, False)):
        sms = [o for o in step.outputs if isinstance(o, lc.OutcomeSmsDue)]
        assert sms == ([lc.OutcomeSmsDue(1, "13800000000", substantiated)] if consent else [])


def test_callback_result_attaches_consent_and_is_silent_when_nothing_changes():
    record = case(cs.VERIFYING)
    attached = lc.advance(record, ev(lc.CallbackAttached, consent=True, reason_key="2"), D)
    assert attached.record.consent is True and attached.record.version == 2
    again = lc.advance(attached.record, ev(lc.CallbackAttached, consent=None), D)
    assert again.outputs == () and again.record is attached.record


EVENTS = st.sampled_from(list(EXAMPLES))


@settings(max_examples=300)
@given(st.lists(EVENTS, max_size=25))
def test_any_sequence_keeps_the_invariants(kinds):
    """Whatever is tried in whatever order: one timeline line per accepted event, the version
    counts them, a final case stays final, returns only grow, refusals change nothing."""
    record = lc.opened(
        1, unit_code="S1", event_unit_code="P1", at=T0, deadlines=D, actor="s", origin="o"
    ).record
    accepted = 0
    for i, kind in enumerate(kinds):
        at = T0 + timedelta(minutes=i + 1)
        step = lc.advance(record, ev(kind, at=at, **EXAMPLES[kind]), D)
        if step.refused:
            assert step.record is record and step.outputs == ()
            continue
        accepted += 1
        assert step.record.version == record.version + 1
        if record.state in cs.FINAL:
            assert step.record.state == record.state
        assert step.record.returns >= record.returns
        if step.record.state == cs.UNDER_REVIEW:
            assert step.record.measures
        if step.record.state in (cs.SUBSTANTIATED, cs.RECTIFYING, cs.UNDER_REVIEW, cs.CLOSED):
            assert step.record.officers and step.record.substantiated_at is not None
        record = step.record
    assert record.version == 1 + accepted


@given(st.permutations([lc.StartVerify, lc.Substantiate, lc.Rectify, lc.Submit, lc.Accept]))
def test_only_the_lifecycle_order_closes_a_case(order):
    """The five steps to closing succeed in exactly one order."""
    record = case()
    for kind in order:
        step = lc.advance(record, ev(kind, **EXAMPLES[kind]), D)
        if step.refused:
            break
        record = step.record
    closes = list(order) == [lc.StartVerify, lc.Substantiate, lc.Rectify, lc.Submit, lc.Accept]
    assert (record.state == cs.CLOSED) == closes
