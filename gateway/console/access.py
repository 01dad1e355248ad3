"""The console's refusal. What a user may see and do is decided by
``gateway.accounts.permissions`` alone (:meth:`gateway.console.web.Console.scope`, the pages'
``perm.check`` calls and the stores they call); nothing here decides."""

from __future__ import annotations


class ForbiddenError(Exception):
    """The user may not see or do this; the message says what, in Chinese."""
