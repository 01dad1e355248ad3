"""Bulk SQL helpers shared by the batch stores: COPY, reserved ids and one-parameter lists.

On PostgreSQL a batch of hundreds of rows is cheapest as COPY, and a list of hundreds of keys
as one joined string the server splits (``string_to_array``): both keep the per-row Python work
(parameter processing on the database thread, which competes with the reactor for the GIL) and
the server's statement parsing small. Every helper falls back to plain SQLAlchemy elsewhere
(SQLite, the embedded default).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

SEP = "\x1f"  # unit separator: joins text values sent as one string (see packed)
NULL_MARK = "\x1e"  # record separator: a NULL among packed column values (packed_column)


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_many(
    session: Session, model: Any, names: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Insert many rows given as tuples in ``names`` order; on PostgreSQL with COPY (a few µs
    a row instead of tens). Tuples, not dicts: no per-row mapping to build and take apart.
    ``model`` is a mapped class or a ``Table``."""
    if not rows:
        return
    table = getattr(model, "__table__", model)
    if not is_postgresql(session):
        session.connection().execute(
            table.insert(), [dict(zip(names, r, strict=True)) for r in rows]
        )
        return
    raw = session.connection().connection.driver_connection
    types = _copy_types(table, names)
    binary = " (FORMAT BINARY)" if types is not None else ""
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN{binary}") as copy,
    ):
        if types is not None:
            copy.set_types(types)
        write = copy.write_row
        for r in rows:
            write(r)


@functools.cache
def _copy_types(table: sa.Table, names: tuple[str, ...]) -> list[str] | None:
    """The server types of ``names`` for a binary COPY, or None to copy as text.

    Binary COPY takes a quarter of text COPY's time on the database thread (an aware datetime
    is one integer instead of formatted text: 1.9 µs a row against 7.5 µs, measured with a
    parts row), but every value must already be of its column's type: the models say which.
    A column of any other type (JSON, an enum) makes the whole COPY text, as before."""
    types = [_copy_type(table.c[name].type) for name in names]
    return None if None in types else types  # type: ignore[return-value]


def _copy_type(column_type: Any) -> str | None:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, sa.BigInteger):
        return "int8"
    if isinstance(column_type, sa.SmallInteger):
        return "int2"
    if isinstance(column_type, sa.Integer):
        return "int4"
    if isinstance(column_type, sa.Boolean):
        return "bool"
    if isinstance(column_type, sa.DateTime):
        return "timestamptz" if column_type.timezone else "timestamp"
    if isinstance(column_type, sa.String | sa.Text) and not isinstance(column_type, sa.Enum):
        return "text"  # varchar's binary form is text's
    if type(column_type) is sa.JSON:
        # json's binary form is its text too; COPY callers pass JSON documents as text already
        # (text COPY needed that as well). jsonb's binary form has a version byte: not this.
        return "text"
    return None


def reserve_ids(session: Session, tables: tuple[sa.Table, ...], count: int) -> list[list[int]]:
    """``count`` fresh primary keys for each of ``tables`` (PostgreSQL), in one round trip.

    Rows written with COPY have no RETURNING; taking their ids from the tables' own sequences
    first lets the caller know every id (and derive values from it) before writing. Ids of a
    rolled-back transaction are skipped, as with any sequence. The sequence names are asked of
    the server (``pg_get_serial_sequence``) once per statement, not assumed.
    """
    if count <= 0:
        return [[] for _ in tables]
    seqs = ", ".join(
        f"pg_get_serial_sequence('{t.name}', 'id')::regclass AS s{i}" for i, t in enumerate(tables)
    )
    # one text per table, not a row per id: 500 ids as rows through the driver and the Result
    # cost 0.28 ms of CPU, as one string 0.20 ms (the statement's own overhead is most of it)
    nexts = ", ".join(f"string_agg(nextval(q.s{i})::text, ',')" for i in range(len(tables)))
    sql = (
        f"WITH q AS MATERIALIZED (SELECT {seqs}) "
        f"SELECT {nexts} FROM q, generate_series(1, CAST(:n AS int))"
    )
    row = session.execute(sa.text(sql), {"n": count}).one()
    return [sorted(map(int, ids.split(","))) for ids in row]


def insert_returning_ids(
    session: Session, model: Any, names: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> list[int]:
    """Insert rows given as tuples in ``names`` order and return their ids, in order: on
    PostgreSQL ids reserved from the sequence, then COPY; elsewhere INSERT ... RETURNING."""
    if not rows:
        return []
    table = getattr(model, "__table__", model)
    if is_postgresql(session):
        [ids] = reserve_ids(session, (table,), len(rows))
        insert_many(
            session, table, ("id", *names), [(pk, *row) for pk, row in zip(ids, rows, strict=True)]
        )
        return ids
    return list(
        session.scalars(
            table.insert().returning(table.c.id, sort_by_parameter_order=True),
            [dict(zip(names, row, strict=True)) for row in rows],
        )
    )


def packed(values: list[Any]) -> str | None:
    """Integers or strings as one ``SEP``-joined string, for ``string_to_array`` on the
    server: psycopg dumps a Python list into an array element by element in Python, on the
    thread that competes with the reactor for the GIL; one ``str.join`` is C. ``None`` when a
    value could not round-trip (it contains the separator, or is empty)."""
    texts = [str(v) for v in values] if values and isinstance(values[0], int) else values
    if not texts or "" in texts:
        return None
    joined = SEP.join(texts)
    if joined.count(SEP) != len(texts) - 1:
        return None
    return joined


def packed_column(values: list[Any]) -> str | None:
    """A column's values for ``string_to_array(:p, SEP, NULL_MARK)`` cast to its array type,
    as :func:`packed` for more types: integers, strings, booleans, aware datetimes (ISO 8601,
    which PostgreSQL reads with their offset) and None. ``None`` when one cannot round-trip."""
    kinds = {type(v) for v in values}
    nullable = type(None) in kinds
    kinds.discard(type(None))
    if len(kinds) != 1:
        return None if kinds else SEP.join([NULL_MARK] * len(values))
    [kind] = kinds
    if kind is str:
        if NULL_MARK in "".join(v for v in values if v is not None):
            return None
        texts = [NULL_MARK if v is None else v for v in values] if nullable else values
    elif kind is bool:
        texts = [NULL_MARK if v is None else ("true" if v else "false") for v in values]
    elif kind is int:
        texts = [NULL_MARK if v is None else str(v) for v in values]
    elif kind is datetime:
        if any(v is not None and v.tzinfo is None for v in values):
            return None
        texts = [NULL_MARK if v is None else v.isoformat() for v in values]
    else:
        return None
    return packed(texts)


def one_of(session: Session, column: Any, values: list[Any]) -> Any:
    """``column IN values``; on PostgreSQL ``= ANY(:array)``, one parameter instead of
    thousands to render and bind, itself sent as one joined string when it can be."""
    if is_postgresql(session):
        from sqlalchemy.dialects.postgresql import ARRAY

        joined = packed(values)
        if joined is None:
            return column == sa.func.any(sa.bindparam(None, values, type_=ARRAY(column.type)))
        array = sa.func.string_to_array(sa.bindparam(None, joined, type_=sa.Text), SEP)
        if not isinstance(column.type, sa.String | sa.Text):
            array = sa.cast(array, ARRAY(column.type))
        return column == sa.func.any(array)
    return column.in_(values)


def _pg_array(column_type: Any) -> str:
    if isinstance(column_type, sa.Integer):
        return "int[]"
    if isinstance(column_type, sa.String | sa.Text):
        return "text[]"
    if isinstance(column_type, sa.Boolean):
        return "boolean[]"
    return "timestamptz[]"  # UtcDateTime, the only other type these updates touch


def update_by_id(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Update many rows keyed by id, each ``{"id": ..., column: value}`` with the same columns.

    On PostgreSQL one ``UPDATE ... FROM unnest(arrays)`` statement (a few parameters, whatever
    the row count) instead of one UPDATE a row; a column with one value for every row (a
    status, the batch timestamp) is bound once as a scalar. Elsewhere, executemany.
    """
    if not rows:
        return
    if not is_postgresql(session):
        session.execute(sa.update(model), rows)
        return
    table = getattr(model, "__table__", model)
    names = [k for k in rows[0] if k != "id"]
    params: dict[str, Any] = {"p_id": packed([r["id"] for r in rows])}  # ints always pack
    casts = ["CAST(string_to_array(:p_id, chr(31)) AS int[])"]
    cols, sets = ["id"], []
    for n in names:
        values = [r[n] for r in rows]
        first = values[0]
        pg_type = _pg_array(table.c[n].type)
        if values.count(first) == len(values):  # all equal (count compares in C)
            sets.append(f"{n} = CAST(:p_{n} AS {pg_type[:-2]})")
            params[f"p_{n}"] = first
            continue
        joined = packed_column(values)
        if joined is None:
            casts.append(f"CAST(:p_{n} AS {pg_type})")
            params[f"p_{n}"] = values
        else:  # one string: psycopg would dump a list element by element in Python
            split = f"string_to_array(:p_{n}, chr({ord(SEP)}), chr({ord(NULL_MARK)}))"
            casts.append(f"CAST({split} AS {pg_type})")
            params[f"p_{n}"] = joined
        cols.append(n)
        sets.append(f"{n} = v.{n}")
    sql = (
        f"UPDATE {table.name} AS t SET {', '.join(sets)} "
        f"FROM unnest({', '.join(casts)}) AS v({', '.join(cols)}) WHERE t.id = v.id"
    )
    session.execute(sa.text(sql), params)


def write_lock(session: Session) -> None:
    """On SQLite, take the database's write lock now, before the transaction reads what it
    will decide on (PostgreSQL locks the rows read with FOR UPDATE instead). Otherwise the
    driver starts the transaction only at its first write, the reads see no snapshot, and
    two batches deciding on the same survey at once would both act on what it was before."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text("UPDATE surveys SET id = id WHERE 0"))
