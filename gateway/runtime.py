"""Process-wide tuning for a long-running gateway, applied once by each entry point."""

from __future__ import annotations

import gc

# Python's defaults (700, 10, 10) suit short scripts. The gateway allocates a Deferred, a PDU and
# a few records for every SMS part, receipt and event, thousands a second, while tens of thousands
# of them are alive (the SMPP window's messages, a batch being written, the outbox): a young
# collection every 700 allocations and a full one every 70,000 spent about 30 % of the process's
# CPU in benchmarks/smpp_throughput.py (1,840 -> 2,680 msg/s with these). Cycles are still
# collected, only in bigger and rarer sweeps.
GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Freeze what start-up built (modules, SQLAlchemy metadata, settings: never garbage, yet
    scanned by every full collection) and collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
