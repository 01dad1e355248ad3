"""What happened to one event at intake: the answer every door gives its sender."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.masking import mask_phones_in_text

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REJECTED = "rejected"


@dataclass(frozen=True)
class IngestResult:
    """``accepted`` (stored, with its survey decision), ``duplicate`` or ``rejected`` (why)."""

    event_id: str | None
    status: str
    decision: str | None = None
    reason: str | None = None
    survey_id: int | None = None
    #: For a ``duplicate`` whose content differs from the stored event: the fields that differ.
    differs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.reason is not None:  # reasons may quote input; they go to senders and logs
            object.__setattr__(self, "reason", mask_phones_in_text(self.reason))

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"event_id": self.event_id, "status": self.status}
        if self.decision is not None:
            out["decision"] = self.decision
        if self.reason is not None:
            out["reason"] = self.reason
        if self.differs:
            out["differs"] = list(self.differs)
        return out
