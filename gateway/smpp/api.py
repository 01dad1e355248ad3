"""The contract other parts of pingjing code against: plain frozen values, no Twisted.

Kept in its own module so the AMQP consumer, the survey logic and the CLI can import it without
pulling in the SMPP machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class OutboundSms:
    outbound_id: int  # outbound_messages.id, committed by the caller before submit
    destination: str  # normalised national mobile, e.g. "13812345678"
    text: str
    source_addr: str | None = None  # None → configured default; else e.g. a per-survey sub-number
    # its wire mark is committed already (by the outbox claim, in a slot the SMPP service
    # reserved: ``reserve_wire_marks``), so its first submit_sm needs no mark transaction
    wired: bool = False


# SubmitOutcome.status of an SMS a graceful stop gave back to the outbox, none of it written:
# not its fate, so never written down as one (see gateway.smpp.stopping)
RELEASED = "released"


@dataclass(frozen=True)
class SubmitOutcome:
    outbound_id: int
    status: str  # "submitted" | "failed" | "unknown" | RELEASED
    message_ids: tuple[str, ...]
    parts: int
    error: str | None = None  # SMPP status name, e.g. "ESME_RINVDSTADR", or a clear reason
    answered_at: datetime | None = None  # when the (last) submit_sm_resp was read


@dataclass(frozen=True)
class InboundSms:  # a citizen's reply, already stored (inbound_messages row committed)
    inbound_id: int
    source_addr: str
    destination_addr: str
    text: str
    incomplete: bool
    received_at: datetime  # aware UTC


@dataclass(frozen=True)
class ReceiptUpdate:  # a delivery receipt, already stored
    outbound_id: int | None  # None when no part matched (kept for review)
    message_id: str
    state: str  # DELIVRD, UNDELIV, EXPIRED, REJECTD, ...
    final_status: str | None  # outbound status after this receipt: "delivered"|"undeliverable"|None
    done_at: datetime | None = None  # the receipt's done date (aware UTC), if it had one
    received_at: datetime | None = None  # when the receipt reached the gateway
