"""storage.sql.insert_many: binary COPY where every column's type is known, text COPY otherwise,
and the same rows as a plain INSERT on both back-ends."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage import models as m
from storage.sql import _copy_types, insert_many

NAMES = (
    "id",
    "kind",
    "destination",
    "text",
    "status",
    "attempts",
    "parts_count",
    "created_at",
    "updated_at",
)
AT = datetime(2026, 11, 28, 8, 30, 15, 123456, tzinfo=UTC)
ROWS = [
    (1, "survey", "13812345678", "【某市公安局】请评价：回复1满意", "pending", 0, 1, AT, AT),
    (2, "notice", "13912345678", "tab\tnew line\nback\\slash", "sent", 3, 2, AT, AT),
    (3, "survey", "13712345678", "", "failed", 0, 0, AT, AT),
]


def test_binary_copy_types_come_from_the_models():
    assert _copy_types(m.OutboundMessage.__table__, NAMES) == [
        "int4", "text", "text", "text", "text", "int4", "int4", "timestamptz", "timestamptz"
    ]  # fmt: skip


def test_json_columns_are_copied_as_their_text():
    json_columns = [c.name for c in m.ServiceEvent.__table__.c if isinstance(c.type, sa.JSON)]
    assert json_columns, "service_events has a JSON column"
    assert _copy_types(m.ServiceEvent.__table__, ("id", json_columns[0])) == ["int4", "text"]


def test_a_column_of_another_type_makes_the_copy_text():
    table = sa.Table(
        "scratch", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("price", sa.Numeric)
    )
    assert _copy_types(table, ("id", "price")) is None


def test_insert_many_stores_every_value_as_given(engine):
    """Chinese text, COPY's escape characters, empty strings, zero and aware datetimes come
    back unchanged, whichever way they were written."""
    with Session(engine) as session, session.begin():
        insert_many(session, m.OutboundMessage, NAMES, ROWS)
    with Session(engine) as session:
        got = session.execute(
            sa.select(*(m.OutboundMessage.__table__.c[n] for n in NAMES)).order_by(
                m.OutboundMessage.id
            )
        ).all()
    assert [tuple(r) for r in got] == ROWS
