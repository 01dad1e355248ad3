"""Tables of people: user accounts, their API tokens, and each unit's leaders.

Kept beside ``storage.models`` (which imports this module, so one ``Base.metadata`` holds
every table) to keep that file readable.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models import Base, Officer, Unit, created_column, utcnow

#: unit_leaders.role: 主要领导 (the unit's head) and 分管领导 (the leader in charge of the area).
LEADER_ROLES = ("principal", "deputy")


class UserAccount(Base):
    """A person who signs in: inspector, handler, leader or viewer of a unit."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(64))
    police_number: Mapped[str | None] = mapped_column(sa.String(32))
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    disabled: Mapped[bool] = mapped_column(default=False)
    password_hash: Mapped[str | None] = mapped_column(sa.String(256))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()


class UserToken(Base):
    """An API token of a user, stored as its SHA-256 (the token itself is shown once)."""

    __tablename__ = "user_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    label: Mapped[str] = mapped_column(sa.String(64))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = created_column()
    revoked_at: Mapped[datetime | None]

    user: Mapped[UserAccount] = relationship()


class UnitLeader(Base):
    """An officer who leads a unit: its 主要领导 (``principal``) or a 分管领导 (``deputy``)."""

    __tablename__ = "unit_leaders"
    __table_args__ = (sa.UniqueConstraint("unit_id", "officer_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    officer_id: Mapped[int] = mapped_column(sa.ForeignKey("officers.id"))
    role: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = created_column()

    unit: Mapped[Unit] = relationship()
    officer: Mapped[Officer] = relationship()
