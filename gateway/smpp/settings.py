"""Settings of one SMPP account, as a typed value validated once at start-up.

The lead maps the TOML ``[smpp]`` section onto :class:`SmppSettings`; :meth:`SmppSettings.validate`
names the offending key so a wrong configuration fails before any bind is attempted. smpplib
silently truncates over-long C-strings (a 9-character password would be cut to 8 and the bind
would fail for a reason nobody can see), so lengths are checked here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.masking import redact

BIND_MODES = ("transceiver", "pair")
CONCATENATIONS = ("udh8", "udh16", "sar")
MESSAGE_ID_FORMATS = ("hex", "decimal", "as_is")
UNACKED_POLICIES = ("resend_once", "mark_unknown")


class SettingsError(ValueError):
    """A setting is invalid; the message names the key."""


@dataclass(frozen=True)
class SmppSettings:
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = ""
    password: str = field(default="", repr=False)
    system_type: str = ""
    bind_mode: str = "transceiver"
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    source_addr: str = ""
    source_ton: int = 0
    source_npi: int = 0
    dest_ton: int = 0
    dest_npi: int = 1
    window: int = 10
    enquire_link_interval: float = 30.0
    response_timeout: float = 10.0
    bind_timeout: float = 10.0
    rate_limit: float = 0.0  # PDUs per second per bind, 0 = no cap
    validity_period: float = 24 * 3600.0  # seconds; 0 = SMSC default
    concatenation: str = "udh8"
    default_data_coding: str = (
        "gsm0338"  # how to read data_coding 0 on replies: gsm0338|latin1|ascii
    )
    message_id_format: str = "as_is"
    # The zone the SMSC writes receipts' submit and done dates in (Chinese carriers: Beijing).
    receipt_timezone: str = "Asia/Shanghai"
    unacked_policy: str = "resend_once"
    reassembly_timeout: float = 300.0
    registered_delivery: bool = True
    throttle_backoff: float = 1.0  # first pause after ESME_RTHROTTLED / ESME_RMSGQFUL, doubles
    throttle_backoff_max: float = 30.0
    max_submit_tries: int = 5  # per part, counting throttling and retryable errors
    stop_timeout: float = 10.0  # how long a graceful stop waits for outstanding responses
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    reconnect_factor: float = 2.0
    # SMS whose wire mark (committed just before their first submit_sm is written) may be
    # committed ahead of writing (the marks' reach). Sending runs at most a reach per mark
    # commit latency (100 at 50 ms: 2,000 SMS/s); a crash leaves at most the reach (plus the
    # window) unknown instead of queued again.
    wire_mark_ahead: int = 100
    # How far that reach may grow while the writes wait for marks with more SMS waiting than
    # it lets be marked (a link faster than the database's commits); it returns to
    # wire_mark_ahead once they no longer do (gateway/smpp/wire_marks.py). Not above
    # wire_mark_ahead: it never grows.
    wire_mark_ahead_max: int = 400
    # A command_length above this (or below 16) means the stream cannot be re-framed: the
    # link is dropped with the reason. SMPP 3.4 PDUs are a few hundred octets; a long
    # message_payload stays well under 64 KiB.
    max_pdu_length: int = 64 * 1024
    # A reply with the content of an earlier one from the same number, within this many
    # seconds, whose deliver_sm_resp the SMSC was never proven to read, is its redelivery.
    redelivery_window: float = 24 * 3600.0
    # How long another process has to prove its resp for a reply (it does within an
    # enquire_link interval while it lives); a copy arriving here meanwhile is kept aside
    # until then. 0 = twice enquire_link_interval.
    redelivery_grace: float = 0.0

    @property
    def redelivery_grace_seconds(self) -> float:
        return self.redelivery_grace or 2 * self.enquire_link_interval

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{f.name}={redact(self.password) if f.name == 'password' else getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
        )
        return f"SmppSettings({fields})"

    def validate(self) -> SmppSettings:
        """Return ``self`` or raise :class:`SettingsError` naming the first bad key."""

        def bad(key: str, why: str) -> SettingsError:
            return SettingsError(f"smpp.{key}: {why}")

        for key, limit in (
            ("system_id", 15),
            ("password", 8),
            ("system_type", 12),
            ("address_range", 40),
            ("source_addr", 20),
        ):
            value = getattr(self, key)
            if len(value) > limit:
                # never echo the password itself
                raise bad(key, f"at most {limit} characters allowed, got {len(value)}")
            try:
                value.encode("ascii")
            except UnicodeEncodeError:
                raise bad(key, "must be ASCII") from None
        if not self.system_id:
            raise bad("system_id", "must not be empty")
        if not 0 < self.port < 65536:
            raise bad("port", f"{self.port} is not a TCP port")
        choices = (
            ("bind_mode", BIND_MODES),
            ("concatenation", CONCATENATIONS),
            ("message_id_format", MESSAGE_ID_FORMATS),
            ("unacked_policy", UNACKED_POLICIES),
            ("default_data_coding", ("gsm0338", "latin1", "ascii")),
        )
        for key, allowed in choices:
            if getattr(self, key) not in allowed:
                raise bad(key, f"{getattr(self, key)!r} is not one of {', '.join(allowed)}")
        for key in ("addr_ton", "addr_npi", "source_ton", "source_npi", "dest_ton", "dest_npi"):
            if not 0 <= getattr(self, key) <= 255:
                raise bad(key, "must be 0..255")
        if not 1 <= self.window <= 1000:
            raise bad("window", "must be 1..1000")
        if self.wire_mark_ahead < 1:
            raise bad("wire_mark_ahead", "must be at least 1")
        if self.wire_mark_ahead_max < 1:
            raise bad("wire_mark_ahead_max", "must be at least 1")
        if not 1024 <= self.max_pdu_length <= 1024 * 1024:
            raise bad("max_pdu_length", "must be 1024..1048576 octets")
        if self.max_submit_tries < 1:
            raise bad("max_submit_tries", "must be at least 1")
        for key in (
            "enquire_link_interval",
            "response_timeout",
            "bind_timeout",
            "reassembly_timeout",
            "throttle_backoff",
            "stop_timeout",
            "reconnect_initial",
        ):
            if getattr(self, key) <= 0:
                raise bad(key, "must be positive")
        try:
            ZoneInfo(self.receipt_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise bad("receipt_timezone", f"unknown time zone {self.receipt_timezone!r}") from None
        if self.rate_limit < 0:
            raise bad("rate_limit", "must be 0 (no cap) or positive")
        if self.redelivery_window < 0:
            raise bad("redelivery_window", "must be 0 (no redelivery check) or positive")
        if self.redelivery_grace < 0:
            raise bad("redelivery_grace", "must be 0 (twice enquire_link_interval) or positive")
        if self.validity_period < 0:
            raise bad("validity_period", "must be 0 (SMSC default) or positive")
        return self
