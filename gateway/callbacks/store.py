"""What the callback scheduler needs stored, as an interface.

The scheduler never writes SQL: ``storage.callback_store.SqlCallbackStore`` implements these
transaction functions (each takes the transaction its runner opened first, then plain values)
and ``gateway.app`` injects it. The rules (when to retry, when a task is overdue) are
``gateway.callbacks.policy``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gateway.callbacks.settings import CallbackSettings

Tx = Any


@dataclass(frozen=True, slots=True)
class Claim:
    """A task this process now owns, and the attempt row created for the call it will place."""

    task_id: int
    attempt_id: int
    attempt_number: int
    phone: str
    trigger: str


@dataclass(frozen=True, slots=True)
class LinesAtAsterisk:
    """The callback channels Asterisk has up now, whoever placed them: the attempts they belong
    to (read from our channel ids) and how many could not be tied to an attempt.

    The trunk's load is the union of these and the calls in progress in the database: a call
    just claimed is in the database before Asterisk has its channel, and a call a crashed
    process left up is at Asterisk after the database stopped counting it. Taking the larger
    of the two counts instead undercounts when both happen at once.
    """

    attempt_ids: frozenset[int] = frozenset()
    untied: int = 0

    def __len__(self) -> int:
        return len(self.attempt_ids) + self.untied


NOTHING_AT_ASTERISK = LinesAtAsterisk()


@dataclass(frozen=True, slots=True)
class Change:
    """A task whose status the store changed, for the scheduler's log and its tests."""

    task_id: int
    status: str
    next_attempt_at: datetime | None = None
    why: str = ""


class CallbackStore(Protocol):
    def claim_due(
        self,
        tx: Tx,
        now: datetime,
        limit: int,
        worker: str,
        settings: CallbackSettings,
        at_asterisk: LinesAtAsterisk = NOTHING_AT_ASTERISK,
    ) -> tuple[list[Claim], list[Change]]: ...

    def record_outcome(self, tx: Tx, *args: Any, **kwargs: Any) -> Change | None: ...

    def record_not_placed(
        self, tx: Tx, attempt_id: int, now: datetime, retry_at: datetime, why: str
    ) -> Change: ...

    def record_refused(self, tx: Tx, attempt_id: int, now: datetime, why: str) -> Change: ...

    def record_call_ended(self, tx: Tx, *args: Any, **kwargs: Any) -> Change | None: ...

    def settle_results(
        self, tx: Tx, now: datetime, settings: CallbackSettings, exclude: Iterable[int] = ()
    ) -> list[Change]: ...

    def recover_claims(self, tx: Tx, *args: Any, **kwargs: Any) -> list[Change]: ...

    def sweep(self, tx: Tx, now: datetime, settings: CallbackSettings) -> list[Change]: ...

    def next_due_at(self, tx: Tx, now: datetime) -> datetime | None: ...

    def create_non_response_tasks(
        self, tx: Tx, now: datetime, settings: CallbackSettings, *, limit: int = 5000
    ) -> list[int]: ...
