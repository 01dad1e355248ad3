"""The SQL behind :class:`gateway.events.registry.EventRegistry`: which units and officers exist."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from twisted.internet import defer

from gateway.events.registry import RegistryFacts
from storage.models import Officer, Unit
from storage.sql import one_of
from storage.units import subtree_codes


class SqlEventRegistry:
    def __init__(self, db: Any) -> None:  # storage.db.Database or any object with run()
        self._db = db

    def facts(
        self, unit_codes: Collection[str], officer_ids: Collection[str], scope: str | None
    ) -> defer.Deferred[RegistryFacts]:
        return self._db.run(_facts, list(unit_codes), list(officer_ids), scope)


def _facts(
    session: Session, unit_codes: list[str], officer_ids: list[str], scope: str | None
) -> RegistryFacts:
    units = session.scalars(sa.select(Unit.code).where(one_of(session, Unit.code, unit_codes)))
    officers = session.scalars(
        sa.select(Officer.police_number).where(one_of(session, Officer.police_number, officer_ids))
    )
    return RegistryFacts(
        units=frozenset(units),
        officers=frozenset(officers),
        scope=None if scope is None else subtree_codes(session, scope),
    )
