"""A user account as plain data, and the roles a person can hold.

* ``inspector`` (督察): verifies, reviews, decides on the accountability ladder;
* ``handler`` (a unit's responsible officer): records the rectification;
* ``leader`` (a unit's leader): reads the unit's subtree and signs the rectification off;
* ``viewer``: reads.

A user sees its unit and every unit below it; a user of the city bureau (the root of the unit
tree) sees every unit. Machines keep using the tokens file (``gateway.config.ApiToken``); they
hold no role and are checked as :data:`MACHINE`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    INSPECTOR = "inspector"
    HANDLER = "handler"
    LEADER = "leader"
    VIEWER = "viewer"


#: The role a principal without one (a token from the tokens file) is checked as.
MACHINE = "machine"

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")


class AccountError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


@dataclass(frozen=True)
class User:
    """A person's account. ``unit`` is a unit code (the attribute name matches the API's
    ``Principal``, so a user can be checked and scoped like a token)."""

    id: int
    name: str  # login name, unique
    full_name: str
    unit: str
    role: Role
    police_number: str | None = None
    disabled: bool = False


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise AccountError(f"role {text!r} is not one of {known}") from None


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise AccountError(
            f"user name {name!r}: use 2-64 characters of letters, digits, '_', '.', '-'"
        )
    return name
