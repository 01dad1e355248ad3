"""Jinja2 for the console: templates shipped in the package, autoescaped, a few filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from gateway.console.store import CALLBACK_STATUSES, RATINGS, SURVEY_STATUSES
from gateway.console.users import ROLES


def make_environment(zone: ZoneInfo) -> Environment:
    env = Environment(
        loader=PackageLoader("gateway.console", "templates"),
        autoescape=select_autoescape(["html", "svg"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def local(at: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return at.astimezone(zone).strftime(fmt) if at is not None else ""

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    env.filters["local"] = local
    env.filters["pct"] = pct
    env.globals.update(
        SURVEY_STATUSES=SURVEY_STATUSES,
        RATINGS=RATINGS,
        CALLBACK_STATUSES=CALLBACK_STATUSES,
        ROLES=ROLES,
    )
    return env


def render(env: Environment, name: str, context: dict[str, Any]) -> bytes:
    return env.get_template(name).render(**context).encode("utf-8")
