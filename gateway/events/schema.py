"""Validation of one service event, whichever door it came through.

Every door (AMQP body, HTTP item, CSV row, JSON line) produces a mapping and calls
``validate_event``; it either returns a ``ServiceEvent`` or raises ``EventInvalidError`` listing
every problem with the field it concerns, so a rejected event can be fixed in one round trip.

Times: ISO 8601. A time without an offset is read in the configured local zone (business systems
in China send local wall-clock times); everything is converted to UTC.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from gateway.events.phones import PhoneCheck, normalise_mobile
from gateway.masking import mask_phones_in_text, shown

SCHEMA_VERSION = 1
CATEGORIES: dict[str, str] = {
    "incident": "incident",
    "case": "case",
    "window": "window",
    "other": "other",
    "接处警": "incident",
    "案件办理": "case",
    "窗口服务": "window",
    "其他": "other",
}
CATEGORY_LABELS = {"incident": "接处警", "case": "案件办理", "window": "窗口服务", "other": "其他"}
REQUIRED = ("event_id", "category", "unit_code", "officer_ids", "citizen_phone", "occurred_at")
OPTIONAL = ("business", "closed_at", "tags", "citizen_name", "schema_version")
KNOWN = frozenset(REQUIRED + OPTIONAL)
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_TAG = re.compile(r"[a-z0-9_]{1,32}")
_CODE = re.compile(r"[A-Za-z0-9._-]{1,32}")
MAX_FUTURE_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class FieldError:
    """One problem with one field; ``field`` is the key as the sender spelt it."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class EventInvalidError(ValueError):
    """An event that cannot be accepted, with every reason found."""

    def __init__(self, errors: list[FieldError], event_id: str | None = None) -> None:
        # Reasons echo the sender's values; whatever they quote, no whole mobile number
        # leaves through an answer, a log line or a dead-letter header.
        self.errors = [
            FieldError(mask_phones_in_text(e.field), mask_phones_in_text(e.reason)) for e in errors
        ]
        self.event_id = event_id
        super().__init__("; ".join(str(e) for e in self.errors))

    @property
    def reason(self) -> str:
        return str(self)


@dataclass(frozen=True)
class ServiceEvent:
    """A validated service event; times are aware UTC, the phone is read but not judged here."""

    event_id: str
    category: str
    unit_code: str
    officer_ids: tuple[str, ...]
    citizen_phone_raw: str
    phone: PhoneCheck
    occurred_at: datetime
    closed_at: datetime | None = None
    business: str | None = None
    tags: frozenset[str] = field(default_factory=frozenset)
    citizen_name: str | None = None

    @property
    def ended_at(self) -> datetime:
        """When the service ended: the survey delay counts from here."""
        return self.closed_at or self.occurred_at


def _text(
    data: Mapping[str, Any],
    key: str,
    errors: list[FieldError],
    *,
    max_len: int,
    pattern: re.Pattern[str] | None = None,
    optional: bool = False,
    numbers: bool = True,
) -> str | None:
    """A string field; ``numbers``: a JSON integer is read as its digits (ids, codes)."""
    value = data.get(key)
    if value is None or (optional and value == ""):
        if not optional:
            errors.append(FieldError(key, "is required"))
        return None
    if not numbers and isinstance(value, int | float) and not isinstance(value, bool):
        errors.append(
            FieldError(key, 'must be a string, got a number (write it in quotes: "138...")')
        )
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.append(FieldError(key, f"must be a string, got {type(value).__name__}"))
        return None
    text = str(value).strip()
    if not text:
        errors.append(FieldError(key, "must not be empty"))
        return None
    if len(text) > max_len:
        errors.append(FieldError(key, f"is {len(text)} characters long, at most {max_len}"))
        return None
    if pattern is not None and not pattern.fullmatch(text):
        errors.append(FieldError(key, f"{shown(text)} has characters that are not allowed"))
        return None
    return text


def parse_time(value: object, zone: tzinfo = DEFAULT_ZONE) -> datetime:
    """Parse ISO 8601 (offset optional, read in ``zone`` when absent) into aware UTC."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"must be an ISO 8601 string, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{shown(value)} is not an ISO 8601 time (e.g. 2026-03-01T09:30:00+08:00)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _time(
    data: Mapping[str, Any], key: str, errors: list[FieldError], zone: tzinfo, optional: bool
) -> datetime | None:
    value = data.get(key)
    if value is None or value == "":
        if not optional:
            errors.append(FieldError(key, "is required"))
        return None
    try:
        return parse_time(value, zone)
    except ValueError as exc:
        errors.append(FieldError(key, str(exc)))
        return None


def _string_list(
    data: Mapping[str, Any], key: str, errors: list[FieldError], pattern: re.Pattern[str]
) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v for v in re.split(r"[;,|]", value) if v.strip()]
    if not isinstance(value, list | tuple):
        errors.append(FieldError(key, f"must be a list of strings, got {type(value).__name__}"))
        return None
    out: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            errors.append(FieldError(f"{key}[{index}]", "must be a non-empty string"))
            return None
        text = item.strip()
        if not pattern.fullmatch(text):
            errors.append(FieldError(f"{key}[{index}]", f"{shown(text)} is not allowed"))
            return None
        if text not in out:
            out.append(text)
    return tuple(out)


def _plain_text(value: object, max_len: int, pattern: re.Pattern[str] | None) -> str | None:
    """``_text``'s result for a plain, acceptable ``str``; ``None`` for anything else."""
    if type(value) is not str:
        return None
    text = value.strip()
    if not text or len(text) > max_len or (pattern is not None and not pattern.fullmatch(text)):
        return None
    return text


def _plain_list(value: object, pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """``_string_list``'s result for a plain list of acceptable strings; ``None`` otherwise."""
    if type(value) is not list:
        return None
    out: list[str] = []
    for item in value:
        if type(item) is not str:
            return None
        text = item.strip()
        if not text or not pattern.fullmatch(text):
            return None
        if text not in out:
            out.append(text)
    return tuple(out)


def _validate_plain(
    data: dict[Any, Any], zone: tzinfo, now: datetime | None
) -> ServiceEvent | None:
    """The event every door sends nearly always: a dict of plain, valid fields.

    Returns the same ``ServiceEvent`` as the full check, or ``None`` as soon as anything is
    unusual (a missing or odd field, a number for a string, a time that fails, a problem), and
    the full check then decides and words the reasons. So this path can only accept what the
    full check accepts, with the same values; it just skips the bookkeeping of errors.
    """
    if not KNOWN.issuperset(data) or "schema_version" in data:
        return None
    get = data.get
    event_id = _plain_text(get("event_id"), 64, _ID)
    raw_category = _plain_text(get("category"), 16, None)
    unit_code = _plain_text(get("unit_code"), 32, _CODE)
    phone_raw = _plain_text(get("citizen_phone"), 40, None)
    officers = _plain_list(get("officer_ids"), _CODE)
    if not (event_id and raw_category and unit_code and phone_raw and officers):
        return None
    category = CATEGORIES.get(raw_category.lower()) or CATEGORIES.get(raw_category)
    if category is None:
        return None
    optional = {}
    for key in ("business", "citizen_name"):
        value = get(key)
        if value is None or value == "":
            optional[key] = None
        else:
            text = _plain_text(value, 64, None)
            if text is None:
                return None
            optional[key] = text
    tags_value = get("tags")
    if tags_value is None:
        tags: tuple[str, ...] | None = ()
    else:
        tags = _plain_list(tags_value, _TAG)
        if tags is None:
            return None
    occurred_value = get("occurred_at")
    if type(occurred_value) is not str:
        return None
    closed_value = get("closed_at")
    try:
        occurred = parse_time(occurred_value, zone)
        if closed_value is None or closed_value == "":
            closed = None
        else:
            closed = parse_time(closed_value, zone)
    except ValueError:
        return None
    if closed is not None and closed < occurred:
        return None
    if now is not None:
        limit = now + MAX_FUTURE_SKEW
        if occurred > limit or (closed is not None and closed > limit):
            return None
    return ServiceEvent(
        event_id=event_id,
        category=category,
        unit_code=unit_code,
        officer_ids=officers,
        citizen_phone_raw=phone_raw,
        phone=normalise_mobile(phone_raw),
        occurred_at=occurred,
        closed_at=closed,
        business=optional["business"],
        tags=frozenset(t.lower() for t in tags),
        citizen_name=optional["citizen_name"],
    )


def validate_event(
    data: object, *, zone: tzinfo = DEFAULT_ZONE, now: datetime | None = None
) -> ServiceEvent:
    """Check one decoded event; raise ``EventInvalidError`` naming every problem."""
    if type(data) is dict:
        event = _validate_plain(data, zone, now)
        if event is not None:
            return event
    return _validate_full(data, zone=zone, now=now)


def _validate_full(
    data: object, *, zone: tzinfo = DEFAULT_ZONE, now: datetime | None = None
) -> ServiceEvent:
    """Every check, every reason: what decides whenever ``_validate_plain`` steps aside."""
    if not isinstance(data, Mapping):
        raise EventInvalidError(
            [FieldError("(event)", f"must be an object, got {type(data).__name__}")]
        )
    errors: list[FieldError] = []
    unknown = sorted(str(k) for k in data if k not in KNOWN)
    if unknown:
        errors.append(FieldError(", ".join(unknown), "unknown field (check the spelling)"))
    version = data.get("schema_version", SCHEMA_VERSION)
    if version not in (SCHEMA_VERSION, str(SCHEMA_VERSION)):
        errors.append(FieldError("schema_version", f"{shown(version)} is not supported (only 1)"))
    event_id = _text(data, "event_id", errors, max_len=64, pattern=_ID)
    category = None
    raw_category = _text(data, "category", errors, max_len=16)
    if raw_category is not None:
        category = CATEGORIES.get(raw_category.lower()) or CATEGORIES.get(raw_category)
        if category is None:
            errors.append(
                FieldError(
                    "category",
                    f"{shown(raw_category)} is not one of incident, case, window, other "
                    "(接处警, 案件办理, 窗口服务, 其他)",
                )
            )
    business = _text(data, "business", errors, max_len=64, optional=True)
    unit_code = _text(data, "unit_code", errors, max_len=32, pattern=_CODE)
    officers = _string_list(data, "officer_ids", errors, _CODE)
    if officers == () and "officer_ids" not in data:
        errors.append(FieldError("officer_ids", "is required"))
    elif officers == ():
        errors.append(FieldError("officer_ids", "must name at least one officer"))
    # A number would lose a leading 0 or + of "+86..." and "0086...": the format says string.
    phone_raw = _text(data, "citizen_phone", errors, max_len=40, numbers=False)
    occurred = _time(data, "occurred_at", errors, zone, optional=False)
    closed = _time(data, "closed_at", errors, zone, optional=True)
    if occurred and closed and closed < occurred:
        errors.append(FieldError("closed_at", "is before occurred_at"))
    if now is not None:
        for key, moment in (("occurred_at", occurred), ("closed_at", closed)):
            if moment is not None and moment > now + MAX_FUTURE_SKEW:
                errors.append(FieldError(key, "is in the future"))
    tags = _string_list(data, "tags", errors, _TAG)
    if tags is not None:
        tags = tuple(t.lower() for t in tags)
    name = _text(data, "citizen_name", errors, max_len=64, optional=True)
    if errors:
        raise EventInvalidError(errors, event_id)
    assert event_id and category and unit_code and officers and phone_raw and occurred
    return ServiceEvent(
        event_id=event_id,
        category=category,
        unit_code=unit_code,
        officer_ids=officers,
        citizen_phone_raw=phone_raw,
        phone=normalise_mobile(phone_raw),
        occurred_at=occurred,
        closed_at=closed,
        business=business,
        tags=frozenset(tags or ()),
        citizen_name=name,
    )


#: One event is a few hundred bytes; a body far beyond that is not an event (HTTP batches have
#: their own limit, ``max_body_bytes``).
MAX_EVENT_BYTES = 64 * 1024


def decode_json_event(body: bytes | str) -> object:
    """Decode one JSON event body; raise ``EventInvalidError`` when it is not UTF-8 JSON."""
    if len(body) > MAX_EVENT_BYTES:
        raise EventInvalidError(
            [FieldError("(body)", f"is {len(body)} bytes, at most {MAX_EVENT_BYTES}")]
        )
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise EventInvalidError(
            [FieldError("(body)", f"is not UTF-8 ({exc.reason} at {exc.start})")]
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventInvalidError(
            [FieldError("(body)", f"is not JSON: {exc.msg} at line {exc.lineno} col {exc.colno}")]
        ) from None
    except RecursionError:
        # arrays or objects nested thousands deep: Python's reader gives up; without this the
        # consumer would take it for a storage failure and retry it before dead-lettering
        raise EventInvalidError([FieldError("(body)", "is nested too deeply to read")]) from None


CSV_LIST_FIELDS = ("officer_ids", "tags")


def csv_row_to_mapping(row: Mapping[str, str | None]) -> dict[str, Any]:
    """A CSV row as the JSON form: empty cells are absent, list cells split on ``;``."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None:
            out["(extra columns)"] = value
            continue
        key = key.strip()
        if value is None or value.strip() == "":
            continue
        if key in CSV_LIST_FIELDS:
            out[key] = [v.strip() for v in re.split(r"[;|]", value) if v.strip()]
        else:
            out[key] = value.strip()
    return out


def read_csv_text(text: str) -> list[tuple[int, str, dict[str, Any]]]:
    """Rows of a CSV file as (line number, raw line, mapping); the header names the fields."""
    lines = text.splitlines()
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for row in reader:
        line_no = reader.line_num
        raw = lines[line_no - 1] if 0 < line_no <= len(lines) else ""
        rows.append((line_no, raw, csv_row_to_mapping(row)))
    return rows
