"""Fewer index entries a survey and a reply write: no reply_address index, held parts alone
indexed by source, room for inbound_deliveries' one update

- ``surveys.reply_address``: no query looks a survey up by it (a reply is matched among its
  phone's surveys), yet every survey insert and every update (none can be heap-only: the
  status is indexed) wrote an entry.
- ``inbound_messages``: only held parts of long replies are read by source, so the index on
  ``(source_addr, received_at)`` becomes ``source_addr`` where ``match_status = 'held'``. A
  reply then writes no entry there, neither when stored nor when its verdict is written.
- ``inbound_deliveries``: fillfactor 45, so the one update a row gets (``acked_at``, in no
  index) finds room in its page and stays heap-only: no new entry in its three indexes.
  Proofs stamp thousands of rows in one statement, whose old versions cannot be pruned
  before it commits: a page needs room for a new version of every row in it (at 70, 41 % of
  the updates were heap-only in the survey pipeline benchmark).

docs/benchmarks.md, twelfth round.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_HELD = sa.text("match_status = 'held'")


def upgrade() -> None:
    with op.batch_alter_table("surveys") as batch_op:
        batch_op.drop_index(batch_op.f("ix_surveys_reply_address"))
    with op.batch_alter_table("inbound_messages") as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_messages_source_addr_received_at"))
        batch_op.create_index(
            "ix_inbound_messages_held_source_addr",
            ["source_addr"],
            postgresql_where=_HELD,
            sqlite_where=_HELD,
        )
    if op.get_bind().dialect.name == "postgresql":
        # new pages only: rows already stored keep theirs until pruned (the redelivery window)
        op.execute("ALTER TABLE inbound_deliveries SET (fillfactor = 45)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE inbound_deliveries RESET (fillfactor)")
    with op.batch_alter_table("inbound_messages") as batch_op:
        batch_op.drop_index("ix_inbound_messages_held_source_addr")
        batch_op.create_index(
            batch_op.f("ix_inbound_messages_source_addr_received_at"),
            ["source_addr", "received_at"],
        )
    with op.batch_alter_table("surveys") as batch_op:
        batch_op.create_index(batch_op.f("ix_surveys_reply_address"), ["reply_address"])
