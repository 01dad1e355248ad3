"""One record per submit_sm attempt of an SMS's parts: what the store gets as its part rows.

The store keeps one ``sms_parts`` row per (outbound id, part number, attempt) and refuses a
second. An attempt can be written down twice in the service's life: once when its answer (or
the lack of one) is known — a retryable status, no response — and again when the part is
given up on that same attempt (tries used up, no resend, the service stopping). The second
fact is the part's last word on that attempt, so it replaces the first instead of adding a
row with the same key, keeping what the wire said (sequence number, status code, times).
"""

from __future__ import annotations

from dataclasses import replace

from gateway.smpp.store import PartResult


class AttemptLog:
    """The part records of one SMS, in the order they were first written, unique by key."""

    __slots__ = ("_records",)

    def __init__(self) -> None:
        self._records: dict[tuple[int, int], PartResult] = {}

    def add(self, result: PartResult) -> PartResult:
        """An attempt's answer (or its lack). An attempt answered twice (cannot happen on one
        sequence number) would keep the later answer, never a second row."""
        self._records[(result.part_number, result.attempt)] = result
        return result

    def settle(self, result: PartResult) -> PartResult:
        """The part's final fact on ``result.attempt``; merged into that attempt's record if
        it has one (its wire details kept, its status and error replaced)."""
        key = (result.part_number, result.attempt)
        earlier = self._records.get(key)
        if earlier is not None and earlier is not result:
            result = replace(earlier, status=result.status, error=result.error)
        self._records[key] = result
        return result

    def records(self) -> list[PartResult]:
        return list(self._records.values())

    def __len__(self) -> int:
        return len(self._records)
