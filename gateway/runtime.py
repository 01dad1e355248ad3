"""Process-wide tuning for a long-running gateway, applied once by each entry point."""

from __future__ import annotations

import gc

# Python's defaults (700, 10, 10) suit short scripts. The gateway allocates a Deferred, a PDU and
# a few records for every SMS part, receipt and event, thousands a second, while tens of thousands
# of them are alive (the SMPP window's messages, a batch being written, the outbox): a young
# collection every 700 allocations and a full one every 70,000 spent about 30 % of the process's
# CPU in benchmarks/smpp_throughput.py (1,840 -> 2,680 msg/s with 50,000). A batch's rows live
# for its transaction, a few milliseconds to a few hundred: at 50,000 a young collection still
# caught most of them alive, traversed them and promoted them for the middle generation to
# traverse again (1.2 s of a 30,000-SMS, 10,000-reply run of benchmarks/survey_pipeline.py);
# at 200,000 most have died first (0.5 s; docs/benchmarks.md, ninth round). Cycles are still
# collected, only in bigger and rarer sweeps; the young generation costs a few tens of MB more.
GC_THRESHOLDS = (200_000, 50, 100)


def tune_gc(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Freeze what start-up built (modules, SQLAlchemy metadata, settings: never garbage, yet
    scanned by every full collection) and collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
