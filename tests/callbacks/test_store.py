"""The callback store's SQL on SQLite and PostgreSQL: claims, outcomes, results, recovery."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gateway.callbacks.settings import CallbackSettings
from storage import callback_store as store
from storage.models import CallAttempt, CallbackTask, Survey
from tests.callbacks.conftest import (
    T0,
    SyncDatabase,
    add_task,
    add_unit,
    opt_out,
    write_ivr_result,
)

S = CallbackSettings()
_units = itertools.count(1)


def seed(db: SyncDatabase, n: int = 1, **kw: object) -> list[int]:
    def go(session: sa.orm.Session) -> list[int]:
        unit = add_unit(session, f"U{next(_units)}")
        return [add_task(session, unit, f"1381234{i:04d}", **kw).id for i in range(n)]

    return db.run_sync(go)


def task(db: SyncDatabase, task_id: int) -> CallbackTask:
    return db.run_sync(lambda s: s.get(CallbackTask, task_id))


def attempts(db: SyncDatabase, task_id: int) -> list[CallAttempt]:
    return db.run_sync(
        lambda s: list(
            s.scalars(
                sa.select(CallAttempt)
                .where(CallAttempt.callback_id == task_id)
                .order_by(CallAttempt.attempt_number)
            )
        )
    )


def test_claim_creates_attempt_and_marks_in_progress(any_db: SyncDatabase) -> None:
    """A due task is claimed: in_progress, attempt 1 created, the claim names the worker."""
    (tid,) = seed(any_db)
    claims, closed = any_db.run_sync(store.claim_due, T0, 4, "w1", S)
    assert closed == []
    assert [(c.task_id, c.attempt_number, c.phone) for c in claims] == [(tid, 1, "13812340000")]
    t = task(any_db, tid)
    assert (t.status, t.attempts, t.claimed_by) == ("in_progress", 1, "w1")
    assert t.claim_expires_at == T0 + S.claim_lease
    assert t.due_by == T0 + S.first_attempt_within
    assert [a.id for a in attempts(any_db, tid)] == [claims[0].attempt_id]


def test_claim_respects_limit_and_skips_future_tasks(any_db: SyncDatabase) -> None:
    """Only due tasks are claimed, at most ``limit`` of them."""
    seed(any_db, 3)
    seed(any_db, 2, next_attempt_at=T0 + timedelta(hours=1))
    claims, _ = any_db.run_sync(store.claim_due, T0, 2, "w1", S)
    assert len(claims) == 2
    claims, _ = any_db.run_sync(store.claim_due, T0, 10, "w1", S)
    assert len(claims) == 1


def test_claimed_task_is_not_claimed_again(any_db: SyncDatabase) -> None:
    """A second claim (another process, later) does not take an in_progress task."""
    seed(any_db)
    assert len(any_db.run_sync(store.claim_due, T0, 4, "w1", S)[0]) == 1
    assert any_db.run_sync(store.claim_due, T0, 4, "w2", S)[0] == []


def test_opted_out_task_is_closed_not_claimed(any_db: SyncDatabase) -> None:
    """A number in opt_outs is never claimed: the task becomes opted_out with no attempt."""
    (tid,) = seed(any_db)
    any_db.run_sync(opt_out, "13812340000")
    claims, closed = any_db.run_sync(store.claim_due, T0, 4, "w1", S)
    assert claims == []
    assert [(c.task_id, c.status) for c in closed] == [(tid, "opted_out")]
    assert attempts(any_db, tid) == []


def test_busy_outcome_schedules_retry(any_db: SyncDatabase) -> None:
    """Busy on attempt 1 stores the attempt and puts the task back for 30 minutes later."""
    (tid,) = seed(any_db)
    (claim,), _ = any_db.run_sync(store.claim_due, T0, 4, "w1", S)
    change = any_db.run_sync(
        store.record_outcome,
        claim.attempt_id,
        channel_id="pj-1-abc",
        outcome="busy",
        reason_code=5,
        hangup_cause=17,
        now=T0,
        settings=S,
    )
    assert (change.status, change.next_attempt_at) == ("pending", T0 + timedelta(minutes=30))
    (a,) = attempts(any_db, tid)
    assert (a.channel_id, a.outcome, a.originate_reason, a.hangup_cause) == (
        "pj-1-abc",
        "busy",
        5,
        17,
    )
    assert a.ended_at == T0
    assert task(any_db, tid).claimed_by is None


def test_answered_then_ended_with_result_completes(any_db: SyncDatabase) -> None:
    """An answered call whose IVR result exists at hangup closes the task with its answers."""
    (tid,) = seed(any_db)
    (claim,), _ = any_db.run_sync(store.claim_due, T0, 4, "w1", S)
    kw = {"channel_id": "pj", "reason_code": 4, "hangup_cause": None, "now": T0, "settings": S}
    assert any_db.run_sync(store.record_outcome, claim.attempt_id, outcome="answered", **kw) is None
    any_db.run_sync(write_ivr_result, claim.attempt_id, "completed", reason_key="2", consent=True)
    change = any_db.run_sync(
        store.record_call_ended, claim.attempt_id, hangup_cause=16, now=T0, settings=S
    )
    assert change.status == "completed"
    t = task(any_db, tid)
    assert (t.status, t.reason_key, t.consent, t.completed_at) == ("completed", "2", True, T0)


def test_ended_without_result_waits_for_spool(any_db: SyncDatabase) -> None:
    """Hangup before any result keeps the task in_progress, with a claim shortened to the
    result grace; a result ingested later is then applied by settle_results."""
    (tid,) = seed(any_db)
    (claim,), _ = any_db.run_sync(store.claim_due, T0, 4, "w1", S)
    kw = {"channel_id": "pj", "reason_code": 4, "hangup_cause": None, "now": T0, "settings": S}
    any_db.run_sync(store.record_outcome, claim.attempt_id, outcome="answered", **kw)
    later = T0 + timedelta(minutes=3)
    any_db.run_sync(
        store.record_call_ended, claim.attempt_id, hangup_cause=16, now=later, settings=S
    )
    t = task(any_db, tid)
    assert (t.status, t.claim_expires_at) == ("in_progress", later + S.result_grace)
    any_db.run_sync(write_ivr_result, claim.attempt_id, "wrong_person")
    changes = any_db.run_sync(store.settle_results, later, S)
    assert [(c.task_id, c.status) for c in changes] == [(tid, "wrong_person")]


def test_late_usable_result_closes_a_retried_task(any_db: SyncDatabase) -> None:
    """A task that went back to pending still takes a usable result that arrives late."""
    (tid,) = seed(any_db)
    (claim,), _ = any_db.run_sync(store.claim_due, T0, 4, "w1", S)
    late = T0 + S.claim_lease + timedelta(seconds=1)
    changes = any_db.run_sync(store.recover_claims, late, S)
    assert [c.status for c in changes] == ["pending"]
    any_db.run_sync(write_ivr_result, claim.attempt_id, "no_input")
    changes = any_db.run_sync(store.settle_results, late, S)
    assert [(c.task_id, c.status) for c in changes] == [(tid, "no_input")]
    assert any_db.run_sync(store.settle_results, late, S) == []


def test_unusable_result_of_old_attempt_is_ignored(any_db: SyncDatabase) -> None:
    """A pending task whose earlier attempt ended in a hangup without a reason stays pending."""
    (tid,) = seed(any_db)
    (claim,), _ = any_db.run_sync(store.claim_due, T0, 4, "w1", S)
    any_db.run_sync(write_ivr_result, claim.attempt_id, "hangup")
    (change,) = any_db.run_sync(store.settle_results, T0, S)
    assert change.status == "pending"
    assert any_db.run_sync(store.settle_results, T0, S) == []
    assert task(any_db, tid).status == "pending"


def test_settle_leaves_excluded_tasks_alone(any_db: SyncDatabase) -> None:
    """A task whose call this process still follows is not settled behind its back."""
    (tid,) = seed(any_db)
    (claim,), _ = any_db.run_sync(store.claim_due, T0, 4, "w1", S)
    any_db.run_sync(write_ivr_result, claim.attempt_id, "completed", reason_key="1")
    assert any_db.run_sync(store.settle_results, T0, S, exclude=[tid]) == []
    assert task(any_db, tid).status == "in_progress"


def test_recover_own_claims_at_start(any_db: SyncDatabase) -> None:
    """At start-up a worker takes back its own claims at once; the interrupted attempt counts
    with outcome unknown."""
    (tid,) = seed(any_db)
    any_db.run_sync(store.claim_due, T0, 4, "w1", S)
    now = T0 + timedelta(minutes=1)
    assert any_db.run_sync(store.recover_claims, now, S) == []
    (change,) = any_db.run_sync(store.recover_claims, now, S, worker="w1")
    assert (change.task_id, change.status) == (tid, "pending")
    assert change.next_attempt_at == now + timedelta(minutes=30)
    (a,) = attempts(any_db, tid)
    assert (a.outcome, a.ended_at) == ("unknown", now)


def test_other_workers_claim_recovered_after_expiry(any_db: SyncDatabase) -> None:
    """Another process's claim is left alone until it expires."""
    (tid,) = seed(any_db)
    any_db.run_sync(store.claim_due, T0, 4, "w1", S)
    before = T0 + S.claim_lease - timedelta(seconds=1)
    assert any_db.run_sync(store.recover_claims, before, S, worker="w2") == []
    after = T0 + S.claim_lease + timedelta(seconds=1)
    assert [c.task_id for c in any_db.run_sync(store.recover_claims, after, S, worker="w2")] == [
        tid
    ]


def test_recovering_last_attempt_goes_manual(any_db: SyncDatabase) -> None:
    """An interrupted final attempt moves the task to manual."""
    s = CallbackSettings(max_attempts=1)
    (_tid,) = seed(any_db)
    any_db.run_sync(store.claim_due, T0, 4, "w1", s)
    (change,) = any_db.run_sync(store.recover_claims, T0, s, worker="w1")
    assert change.status == "manual"


def test_not_placed_attempt_is_undone(any_db: SyncDatabase) -> None:
    """An originate that never left (AMI down) removes the attempt and does not count."""
    (tid,) = seed(any_db)
    (claim,), _ = any_db.run_sync(store.claim_due, T0, 4, "w1", S)
    retry = T0 + timedelta(minutes=1)
    change = any_db.run_sync(store.record_not_placed, claim.attempt_id, T0, retry, "AMI down")
    assert (change.status, change.next_attempt_at) == ("pending", retry)
    t = task(any_db, tid)
    assert (t.attempts, t.status) == (0, "pending")
    assert attempts(any_db, tid) == []


def test_refused_number_goes_manual(any_db: SyncDatabase) -> None:
    """A number the dialler refuses sends the task to manual with the reason."""
    (_tid,) = seed(any_db)
    (claim,), _ = any_db.run_sync(store.claim_due, T0, 4, "w1", S)
    change = any_db.run_sync(store.record_refused, claim.attempt_id, T0, "bad number")
    assert (change.status, change.why) == ("manual", "bad number")


def test_sweep_flags_overdue_and_closes_opted_out(any_db: SyncDatabase) -> None:
    """The sweep gives deadlines from the reply, flags late tasks, closes opted-out ones."""
    replied = T0 - timedelta(hours=25)
    late, fresh = seed(any_db, 2, created_at=T0, replied_at=replied)
    any_db.run_sync(opt_out, "13812340001")
    changes = any_db.run_sync(store.sweep, T0, S)
    assert {(c.task_id, c.status, c.why) for c in changes} == {
        (fresh, "opted_out", "number opted out"),
        (late, "pending", "overdue"),
    }
    t = task(any_db, late)
    assert (t.overdue, t.due_by) == (True, replied + S.first_attempt_within)
    assert any_db.run_sync(store.sweep, T0, S) == []


def test_next_due_at(any_db: SyncDatabase) -> None:
    """The earliest pending due time; now when one is due already; None when none pending."""
    assert any_db.run_sync(store.next_due_at, T0) is None
    seed(any_db, 1, next_attempt_at=T0 + timedelta(hours=2))
    assert any_db.run_sync(store.next_due_at, T0) == T0 + timedelta(hours=2)
    seed(any_db, 1, next_attempt_at=None)
    assert any_db.run_sync(store.next_due_at, T0) == T0


def test_non_response_tasks_sampled_once(any_db: SyncDatabase) -> None:
    """Expired unanswered surveys get non_response tasks when sampled, once, and only
    recent ones."""
    s = CallbackSettings(non_response_share=1.0)

    def expired_surveys(session: sa.orm.Session) -> list[int]:
        unit = add_unit(session, "NR")
        ids = []
        for i, expired_at in enumerate([T0 - timedelta(hours=1), T0 - timedelta(days=3)]):
            t = add_task(session, unit, f"1390000000{i}")
            survey = session.get(Survey, t.survey_id)
            survey.status, survey.replied_at, survey.expires_at = "expired", None, expired_at
            session.delete(t)
            ids.append(survey.id)
        return ids

    recent, _old = any_db.run_sync(expired_surveys)
    created = any_db.run_sync(store.create_non_response_tasks, T0, s)
    assert len(created) == 1
    t = task(any_db, created[0])
    assert (t.survey_id, t.trigger, t.status) == (recent, "non_response", "pending")
    assert any_db.run_sync(store.create_non_response_tasks, T0, s) == []
    assert any_db.run_sync(store.create_non_response_tasks, T0, S) == []


def test_non_response_sampling_reaches_past_unsampled_surveys(any_db: SyncDatabase) -> None:
    """Surveys the sample skipped stay candidates; however many there are, a later sampled
    survey still gets its task on the same round (the batch size is not a horizon)."""
    from gateway.callbacks.policy import sampled_for_callback

    s = CallbackSettings(non_response_share=0.1)

    def expired_surveys(session: sa.orm.Session) -> list[int]:
        unit = add_unit(session, "NRB")
        ids = []
        for i in range(12):
            t = add_task(session, unit, f"137000000{i:02d}")
            survey = session.get(Survey, t.survey_id)
            survey.status, survey.replied_at = "expired", None
            survey.expires_at = T0 - timedelta(minutes=10 + i)
            session.delete(t)
            ids.append(survey.id)
        return ids

    ids = any_db.run_sync(expired_surveys)
    chosen = [i for i in ids if sampled_for_callback(i, s.non_response_share)]
    first_chosen = ids.index(chosen[0]) if chosen else len(ids)
    assert chosen and first_chosen >= 2, "the scenario needs two skipped surveys first"
    created = any_db.run_sync(store.create_non_response_tasks, T0, s, limit=2)
    assert sorted(task(any_db, t).survey_id for t in created) == chosen


@pytest.mark.postgres
def test_two_processes_never_claim_the_same_task(pg_url: str) -> None:
    """On PostgreSQL two concurrent claims (open transactions) get disjoint tasks."""
    a, b = SyncDatabase(pg_url), SyncDatabase(pg_url)
    try:
        seed(a, 4)
        first_claimed = threading.Event()
        release = threading.Event()
        got: dict[str, list[int]] = {}

        def hold(session: sa.orm.Session) -> None:
            claims, _ = store.claim_due(session, T0, 2, "pa", S)
            got["a"] = [c.task_id for c in claims]
            first_claimed.set()
            release.wait(10)

        t = threading.Thread(target=a.run_sync, args=(hold,))
        t.start()
        assert first_claimed.wait(10)
        claims, _ = b.run_sync(store.claim_due, T0, 4, "pb", S)
        release.set()
        t.join(10)
        got["b"] = [c.task_id for c in claims]
        assert len(got["a"]) == 2
        assert len(got["b"]) == 2
        assert not set(got["a"]) & set(got["b"])
    finally:
        a.dispose()
        b.dispose()
