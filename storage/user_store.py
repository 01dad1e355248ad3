"""The SQL behind :class:`gateway.accounts.store.UserStore`: one transaction per call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from twisted.internet import defer

from gateway.accounts.model import AccountError, Role, User
from gateway.accounts.store import NewUser, TokenInfo
from storage.account_models import UserAccount, UserToken
from storage.models import Unit, utcnow


class SqlUserStore:
    def __init__(self, db: Any) -> None:  # storage.db.Database
        self._db = db

    def add_user(self, new: NewUser) -> defer.Deferred[User]:
        return self._db.run(add_user, new)

    def users(self, unit_codes: Sequence[str] | None = None) -> defer.Deferred[list[User]]:
        return self._db.run(list_users, None if unit_codes is None else list(unit_codes))

    def user(self, name: str) -> defer.Deferred[User | None]:
        return self._db.run(get_user, name)

    def set_disabled(self, name: str, disabled: bool) -> defer.Deferred[User]:
        return self._db.run(set_disabled, name, disabled)

    def set_password(self, name: str, password_hash: str) -> defer.Deferred[None]:
        return self._db.run(set_password, name, password_hash)

    def password_hash(self, name: str) -> defer.Deferred[str | None]:
        return self._db.run(password_hash, name)

    def add_token(self, name: str, label: str, token_hash: str) -> defer.Deferred[TokenInfo]:
        return self._db.run(add_token, name, label, token_hash)

    def revoke_token(self, token_id: int) -> defer.Deferred[TokenInfo]:
        return self._db.run(revoke_token, token_id)

    def active_tokens(self) -> defer.Deferred[dict[str, User]]:
        return self._db.run(active_tokens)


def _user(row: UserAccount) -> User:
    return User(
        id=row.id,
        name=row.name,
        full_name=row.full_name,
        unit=row.unit.code,
        role=Role(row.role),
        police_number=row.police_number,
        disabled=row.disabled,
    )


def _account(session: Session, name: str) -> UserAccount:
    row = session.scalar(sa.select(UserAccount).where(UserAccount.name == name))
    if row is None:
        raise AccountError(f"no user {name!r}")
    return row


def add_user(session: Session, new: NewUser) -> User:
    if session.scalar(sa.select(UserAccount.id).where(UserAccount.name == new.name)):
        raise AccountError(f"user {new.name!r} already exists")
    unit = session.scalar(sa.select(Unit).where(Unit.code == new.unit))
    if unit is None:
        raise AccountError(f"unit {new.unit!r} is not in the registry")
    row = UserAccount(
        name=new.name,
        full_name=new.full_name,
        police_number=new.police_number,
        unit=unit,
        role=Role(new.role).value,
        password_hash=new.password_hash,
    )
    session.add(row)
    session.flush()
    return _user(row)


def list_users(session: Session, unit_codes: list[str] | None) -> list[User]:
    query = sa.select(UserAccount).join(Unit, Unit.id == UserAccount.unit_id)
    if unit_codes is not None:
        query = query.where(Unit.code.in_(unit_codes))
    return [_user(row) for row in session.scalars(query.order_by(UserAccount.name))]


def get_user(session: Session, name: str) -> User | None:
    row = session.scalar(sa.select(UserAccount).where(UserAccount.name == name))
    return None if row is None else _user(row)


def set_disabled(session: Session, name: str, disabled: bool) -> User:
    row = _account(session, name)
    row.disabled = disabled
    session.flush()
    return _user(row)


def set_password(session: Session, name: str, password_hash: str) -> None:
    _account(session, name).password_hash = password_hash


def password_hash(session: Session, name: str) -> str | None:
    return session.scalar(sa.select(UserAccount.password_hash).where(UserAccount.name == name))


def add_token(session: Session, name: str, label: str, token_hash: str) -> TokenInfo:
    row = UserToken(user=_account(session, name), label=label[:64], token_hash=token_hash)
    session.add(row)
    session.flush()
    return TokenInfo(row.id, name, row.label, False)


def revoke_token(session: Session, token_id: int) -> TokenInfo:
    row = session.get(UserToken, token_id)
    if row is None:
        raise AccountError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return TokenInfo(row.id, row.user.name, row.label, True)


def active_tokens(session: Session) -> dict[str, User]:
    rows = session.execute(
        sa.select(UserToken.token_hash, UserAccount)
        .join(UserAccount, UserAccount.id == UserToken.user_id)
        .where(UserToken.revoked_at.is_(None), UserAccount.disabled.is_(False))
    ).all()
    return {digest: _user(account) for digest, account in rows}


def token_list(session: Session, name: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(UserToken, UserAccount.name).join(
        UserAccount, UserAccount.id == UserToken.user_id
    )
    if name is not None:
        query = query.where(UserAccount.name == name)
    return [
        {
            "id": token.id,
            "user": user,
            "label": token.label,
            "created_at": token.created_at,
            "revoked": token.revoked_at is not None,
        }
        for token, user in session.execute(query.order_by(UserToken.id)).all()
    ]
