"""What a console user may see and do: the unit subtree and the role.

The unit rule is the API's (``gateway.http.callbacks.scope_of``): no unit means every unit, a
unit means that unit and every unit below it, and a unit that does not exist sees nothing.
"""

from __future__ import annotations

from gateway.console.users import ConsoleUser
from gateway.http.store import UnitIds


class ForbiddenError(Exception):
    """The user may not see or do this; the message says what, in Chinese."""


def allowed_units(user: ConsoleUser, trees: dict[str, UnitIds]) -> UnitIds:
    """The unit ids ``user`` may see (``None``: all)."""
    if not user.unit:
        return None
    allowed = trees.get(user.unit) or frozenset()
    if not allowed:
        raise ForbiddenError(f"账号所属单位 {user.unit} 不存在")
    return allowed


def narrow(allowed: UnitIds, asked: UnitIds, code: str | None) -> UnitIds:
    """The units a filter on ``code`` (whose subtree is ``asked``) may read."""
    if asked is None:
        return allowed
    if not asked:
        raise ForbiddenError(f"单位 {code} 不存在")
    if allowed is not None and not asked <= allowed:
        raise ForbiddenError(f"无权查看单位 {code}")
    return asked


def may_read_audit(user: ConsoleUser) -> bool:
    """The audit log is the inspectorate's alone."""
    return user.role == "inspector" and not user.unit
