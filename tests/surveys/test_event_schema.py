"""Event validation: the one path all three doors use; every malformed case names its field."""

from datetime import UTC, datetime

import pytest

from gateway.events.schema import (
    EventInvalidError,
    decode_json_event,
    read_csv_text,
    validate_event,
)

NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def good(**changes):
    event = {
        "event_id": "JJ-2026-000123",
        "category": "incident",
        "business": "纠纷求助",
        "unit_code": "330102001",
        "officer_ids": ["P001", "P002"],
        "citizen_phone": "+86 138-1234-5678",
        "occurred_at": "2026-03-01T09:30:00+08:00",
        "closed_at": "2026-03-01T10:05:00+08:00",
        "tags": ["arrest"],
        "citizen_name": "张三",
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not ...}


def reasons(data, **kw):
    with pytest.raises(EventInvalidError) as info:
        validate_event(data, now=NOW, **kw)
    return {e.field: e.reason for e in info.value.errors}


def test_valid_event_is_read_with_utc_times_and_normalised_phone():
    """A complete event yields UTC times, the normalised mobile and the raw phone kept."""
    event = validate_event(good(), now=NOW)
    assert event.occurred_at == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    assert event.closed_at == datetime(2026, 3, 1, 2, 5, tzinfo=UTC)
    assert event.ended_at == event.closed_at
    assert event.phone.mobile == "13812345678"
    assert event.citizen_phone_raw == "+86 138-1234-5678"
    assert event.officer_ids == ("P001", "P002")
    assert event.tags == frozenset({"arrest"})


def test_chinese_category_labels_are_accepted():
    """接处警 / 案件办理 / 窗口服务 / 其他 map to the four codes."""
    labels = {"接处警": "incident", "案件办理": "case", "窗口服务": "window", "其他": "other"}
    for label, code in labels.items():
        assert validate_event(good(category=label), now=NOW).category == code


def test_naive_time_is_read_as_shanghai_local_time():
    """A time without offset is Beijing wall-clock time, stored as UTC."""
    event = validate_event(good(occurred_at="2026-03-01 09:30:00", closed_at=...), now=NOW)
    assert event.occurred_at == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    assert event.ended_at == event.occurred_at


def test_z_suffix_is_utc():
    """``Z`` means UTC."""
    event = validate_event(good(occurred_at="2026-03-01T01:30:00Z", closed_at=...), now=NOW)
    assert event.occurred_at == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)


def test_landline_is_a_valid_event_but_not_sms_able():
    """The event is kept (its decision will be not_mobile); validation does not reject it."""
    event = validate_event(good(citizen_phone="0571-87654321"), now=NOW)
    assert event.phone.mobile is None


@pytest.mark.parametrize(
    "missing", ["event_id", "category", "unit_code", "officer_ids", "citizen_phone", "occurred_at"]
)
def test_each_required_field_missing_is_named(missing):
    """A missing required field is reported by name."""
    assert reasons(good(**{missing: ...}))[missing] == "is required"


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("event_id", "has space", "not allowed"),
        ("event_id", "x" * 65, "at most 64"),
        ("event_id", "", "must not be empty"),
        ("event_id", ["a"], "must be a string"),
        ("category", "traffic", "not one of"),
        ("unit_code", "单位", "not allowed"),
        ("officer_ids", [], "at least one"),
        ("officer_ids", 5, "must be a list"),
        ("officer_ids[1]", ["P1", ""], "non-empty"),
        ("citizen_phone", 3.5, "must be a string"),
        ("occurred_at", "yesterday", "not an ISO 8601 time"),
        ("occurred_at", 1700000000, "must be an ISO 8601 string"),
        ("closed_at", "2026-03-01T09:00:00+08:00", "before occurred_at"),
        ("tags[0]", ["Domestic Violence"], "not allowed"),
        ("citizen_name", "名" * 65, "at most 64"),
        ("schema_version", 2, "not supported"),
    ],
)
def test_malformed_field_is_named_with_reason(field, value, fragment):
    """Each kind of malformed value is rejected with its field and a reason saying why."""
    key = field.split("[")[0]
    got = reasons(good(**{key: value}))
    assert fragment in got[field]


def test_future_times_are_rejected():
    """An event that happens after now (beyond clock skew) is a sender bug."""
    got = reasons(good(occurred_at="2026-03-05T09:30:00+08:00", closed_at=...))
    assert got["occurred_at"] == "is in the future"


def test_unknown_fields_are_named():
    """A misspelt field is not silently ignored (``closed_time`` would lose the close time)."""
    got = reasons(good(closed_time="x"))
    assert got["closed_time"].startswith("unknown field")


def test_all_problems_are_reported_at_once():
    """Several bad fields give several reasons, so the sender fixes them in one round trip."""
    got = reasons(good(category="x", occurred_at="bad", unit_code=...))
    assert set(got) == {"category", "occurred_at", "unit_code"}


def test_non_object_is_rejected():
    """A JSON array or string where an event object was expected names the problem."""
    assert "must be an object" in reasons(["x"])["(event)"]


def test_error_message_carries_event_id():
    """The event id, when readable, travels with the error for the dead-letter header."""
    with pytest.raises(EventInvalidError) as info:
        validate_event(good(category="x"), now=NOW)
    assert info.value.event_id == "JJ-2026-000123"
    assert "category" in str(info.value)


def test_body_that_is_not_utf8_is_rejected():
    """GBK bytes on the bus are named as not UTF-8, not decoded into mojibake."""
    with pytest.raises(EventInvalidError, match="not UTF-8"):
        decode_json_event("纠纷".encode("gbk"))


def test_body_that_is_not_json_is_rejected_with_position():
    """Broken JSON names the line and column."""
    with pytest.raises(EventInvalidError, match="line 1 col"):
        decode_json_event(b'{"event_id": ')


def test_utf8_json_body_with_chinese_decodes():
    """Chinese text in a UTF-8 body survives decoding."""
    assert decode_json_event('{"business": "户籍办理"}'.encode())["business"] == "户籍办理"


def test_csv_rows_split_lists_and_drop_empty_cells():
    """CSV list cells use ``;``; empty optional cells are absent, not empty strings."""
    text = (
        "event_id,category,unit_code,officer_ids,citizen_phone,occurred_at,closed_at,tags\n"
        "E1,window,U1,P1;P2,13812345678,2026-03-01T09:00:00+08:00,,juvenile\n"
    )
    [(line, raw, row)] = read_csv_text(text)
    assert line == 2
    assert raw.startswith("E1,")
    assert row["officer_ids"] == ["P1", "P2"]
    assert "closed_at" not in row
    event = validate_event(row, now=NOW)
    assert event.tags == frozenset({"juvenile"})


def test_csv_row_with_extra_cells_is_rejected():
    """More cells than header columns is reported, not silently dropped."""
    text = "event_id,category\nE1,window,extra\n"
    [(_, _, row)] = read_csv_text(text)
    assert "(extra columns)" in reasons(row)


# --- the plain-event fast path decides exactly as the full check ---------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from gateway.events import schema  # noqa: E402


def outcome(check, data):
    """What a check makes of ``data``: the event, or the rejection's event id and reasons."""
    try:
        return ("accepted", check(data, now=NOW))
    except EventInvalidError as exc:
        return ("rejected", exc.event_id, exc.reason, [(e.field, e.reason) for e in exc.errors])


ODD = st.one_of(
    st.none(),
    st.just(""),
    st.just("  "),
    st.booleans(),
    st.integers(-5, 10**12),
    st.floats(allow_nan=False),
    st.text(max_size=70),
    st.lists(st.text(max_size=8), max_size=3),
)
FIELD_VALUES = {
    "event_id": st.one_of(st.sampled_from(["JJ-1", " JJ-2 ", "-bad", "x" * 65]), ODD),
    "category": st.one_of(
        st.sampled_from(["incident", "CASE", " window ", "接处警", "其他", "nope"]), ODD
    ),
    "business": st.one_of(st.sampled_from(["纠纷求助", "户籍办理", "b" * 65]), ODD),
    "unit_code": st.one_of(st.sampled_from(["330102001", "U 1", "u" * 33]), ODD),
    "officer_ids": st.one_of(
        st.lists(st.sampled_from(["P001", " P002 ", "P001", "bad id", ""]), max_size=4),
        st.sampled_from(["P001;P002", "P001"]),
        ODD,
    ),
    "citizen_phone": st.one_of(
        st.sampled_from(
            ["13812345678", "+86 138-1234-5678", "１３８１２３４５６７８", "0571-1234567"]
        ),
        ODD,
    ),
    "occurred_at": st.one_of(
        st.sampled_from(
            [
                "2026-03-01T09:30:00+08:00",
                "2026-03-01T09:30:00",
                "2026-03-01T01:00:00Z",
                "2026-03-09T09:30:00+08:00",
                "yesterday",
            ]
        ),
        ODD,
    ),
    "closed_at": st.one_of(
        st.sampled_from(["2026-03-01T10:05:00+08:00", "2026-03-01T08:00:00+08:00", "2027-01-01"]),
        ODD,
    ),
    "tags": st.one_of(st.lists(st.sampled_from(["arrest", "Arrest", "vip", ""]), max_size=3), ODD),
    "citizen_name": st.one_of(st.sampled_from(["张三", "n" * 65]), ODD),
    "schema_version": st.sampled_from([1, "1", 2, True, 1.0]),
    "extra": st.just("x"),
}


@st.composite
def events(draw):
    base = good()
    for key, values in FIELD_VALUES.items():
        choice = draw(st.sampled_from(["keep", "drop", "change"]))
        if choice == "drop":
            base.pop(key, None)
        elif choice == "change":
            base[key] = draw(values)
    return base


@settings(max_examples=600, deadline=None)
@given(events())
def test_the_fast_path_decides_and_words_every_event_as_the_full_check(data):
    assert outcome(validate_event, data) == outcome(schema._validate_full, data)


def test_the_fast_path_takes_the_usual_event():
    """The property above would hold vacuously if the fast path never accepted anything."""
    plain = schema._validate_plain(good(), UTC, NOW)
    assert plain is not None
    assert plain == schema._validate_full(good(), now=NOW)
    assert schema._validate_plain(good(category="nope"), UTC, NOW) is None


# --- echoed values are masked; the phone is a string ---------------------------------------

from gateway.events.results import REJECTED, IngestResult  # noqa: E402


def test_a_phone_echoed_in_a_time_error_is_masked():
    """``closed_at: '13812349876'`` is named as wrong without showing the whole number."""
    problems = reasons(good(closed_at="13812349876"))
    assert problems["closed_at"].startswith("'138****9876' is not an ISO 8601 time")


def test_a_phone_sent_as_a_field_name_or_in_any_field_is_masked_in_the_error():
    """Unknown field names and other echoed values go through the same masking."""
    with pytest.raises(EventInvalidError) as info:
        validate_event(good(category="13812349876", **{"13900001111": "x"}), now=NOW)
    text = info.value.reason
    assert "13812349876" not in text and "13900001111" not in text
    assert "138****9876" in text and "139****1111" in text


def test_citizen_phone_as_a_json_number_is_rejected():
    """The format says string: a number would lose the leading + or 0 of +86/0086 numbers."""
    assert "must be a string" in reasons(good(citizen_phone=13812345678))["citizen_phone"]


def test_an_intake_reason_quoting_a_phone_is_masked():
    """What a door answers, logs or puts in a dead-letter header: the masked reason."""
    result = IngestResult("E1", REJECTED, reason="unit_code: '13812349876' is not a known unit")
    assert result.reason == "unit_code: '138****9876' is not a known unit"
