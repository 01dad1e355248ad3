"""pingjing's configuration: one TOML file, typed sections, validated once at start-up.

Each ``[section]`` of the file maps onto a settings dataclass owned by the part of the daemon
that uses it; this module only knows which class each section is. See ``conf/pingjing.toml``
for every key with its meaning and default.
"""

from __future__ import annotations

import dataclasses
import importlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.configload import (
    ConfigError,
    environment,
    load_section,
    redacted,
    secret_values,
    section_problem,
)


@dataclass(frozen=True)
class ServiceSettings:
    timezone: str = "Asia/Shanghai"
    #: Where the SQLite database, the AGI spool and the recordings live by default.
    data_dir: str = "var/pingjing"
    log_level: str = "info"
    #: This process's name among several sharing one database. Empty: the host name.
    instance: str = ""

    def validate(self) -> ServiceSettings:
        if len(self.instance) > 64:
            raise ValueError("service.instance: at most 64 characters")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"service.timezone: unknown time zone {self.timezone!r}") from None
        if self.log_level not in ("debug", "info", "warn", "error"):
            raise ValueError("service.log_level: expected one of debug, info, warn, error")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def instance_name(self) -> str:
        """``instance``, or the host name: stable across restarts."""
        import socket

        return self.instance or socket.gethostname()[:64]


@dataclass(frozen=True)
class DatabaseSettings:
    #: SQLAlchemy URL. Empty: SQLite in ``service.data_dir``.
    url: str = ""
    #: Inserted into the URL when set, so the URL itself can live in a non-secret file.
    password: str = field(default="", repr=False, metadata={"secret": True})
    threads: int = 4

    def validate(self) -> DatabaseSettings:
        if self.threads < 1:
            raise ValueError("database.threads: must be at least 1")
        return self


@dataclass(frozen=True)
class ApiToken:
    name: str
    token: str = field(repr=False, metadata={"secret": True})
    #: A unit code: the token sees that unit and those below it. Empty: the inspectorate (all).
    unit: str = ""


@dataclass(frozen=True)
class HttpSettings:
    enabled: bool = True
    #: A Twisted server endpoint string.
    endpoint: str = "tcp:port=8080:interface=127.0.0.1"
    tokens: list[ApiToken] = field(default_factory=list)
    #: A TOML file outside the repository with ``[[token]]`` tables (name, token, unit).
    tokens_file: str = ""
    max_body_bytes: int = 4 * 1024 * 1024
    #: Seconds between reloads of users' API tokens (``pingjing users token``) from the
    #: database: a new, revoked or disabled user's token takes effect within this time.
    user_tokens_refresh: float = 30.0
    #: /metrics, /healthz and /readyz, without a token (keep it on loopback or a private
    #: network). Empty, or [http] disabled: not served.
    ops_endpoint: str = "tcp:port=9108:interface=127.0.0.1"


#: section name -> "module:Class" of its settings. Sections owned by other packages are
#: imported lazily so that loading the file does not import Twisted's reactor-bound code.
SECTIONS: dict[str, str] = {
    "service": "gateway.config:ServiceSettings",
    "database": "gateway.config:DatabaseSettings",
    "http": "gateway.config:HttpSettings",
    "smpp": "gateway.smpp.settings:SmppSettings",
    "ami": "ivr.ami.api:AmiSettings",
}


def _optional_sections() -> dict[str, str]:
    """Sections whose settings modules may not exist in every build of the tree."""
    return {
        "amqp": "gateway.amqp.settings:AmqpSettings",
        "survey": "gateway.surveys.settings:SurveySettings",
        "callbacks": "gateway.callbacks.settings:CallbackSettings",
        "cases": "gateway.cases.settings:CaseSettings",
        "ivr": "ivr.settings:IvrSettings",
        "reports": "gateway.reports.settings:ReportSettings",
    }


def section_classes() -> dict[str, type[Any]]:
    out: dict[str, type[Any]] = {}
    for name, ref in {**SECTIONS, **_optional_sections()}.items():
        module, cls = ref.split(":")
        try:
            out[name] = getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError):
            if name in SECTIONS:
                raise
    return out


class Settings:
    """The effective configuration: one attribute per section."""

    def __init__(self, source: str, sections: dict[str, Any]) -> None:
        self.source = source
        self._sections = sections

    def __getattr__(self, name: str) -> Any:
        try:
            return self._sections[name]
        except KeyError:
            raise AttributeError(name) from None

    def sections(self) -> dict[str, Any]:
        return dict(self._sections)

    def replace(self, **changes: Any) -> Settings:
        return Settings(self.source, {**self._sections, **changes})

    def redacted(self) -> dict[str, Any]:
        return {name: redacted(value) for name, value in self._sections.items()}

    def secret_values(self) -> set[str]:
        """Every configured secret, for redacting text that might quote one."""
        return secret_values(list(self._sections.values()))

    @property
    def data_dir(self) -> Path:
        return Path(self.service.data_dir)

    @property
    def database_url(self) -> str:
        url = self.database.url or f"sqlite:///{self.data_dir / 'pingjing.sqlite3'}"
        if self.database.password:
            from sqlalchemy.engine import make_url

            url = (
                make_url(url)
                .set(password=self.database.password)
                .render_as_string(hide_password=False)
            )
        return url


def load_settings(path: str | Path | None, env: dict[str, str] | None = None) -> Settings:
    """Read, check and return the configuration; raise ConfigError naming file and key."""
    source = str(path) if path else "(defaults)"
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(source, "-", f"cannot read the file: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, "-", f"not valid TOML: {exc}") from None
    env = environment() if env is None else env
    classes = section_classes()
    for name, value in data.items():
        if name not in classes:
            known = ", ".join(sorted(classes))
            raise ConfigError(source, name, f"unknown section (known: {known})")
        if not isinstance(value, dict):
            raise ConfigError(source, name, "expected a table ([section])")
    sections: dict[str, Any] = {}
    for name, cls in classes.items():
        settings = load_section(cls, data.get(name, {}), name, source, env)
        validate = getattr(settings, "validate", None)
        if callable(validate):
            try:
                result = validate()
            except ValueError as exc:
                key, problem = section_problem(name, str(exc))
                raise ConfigError(source, key, problem) from None
            settings = result if result is not None else settings
        sections[name] = settings
    _inherit_time_zone(sections, data, env)
    _cross_check(sections, source)
    http = sections["http"]
    if http.tokens_file:
        sections["http"] = dataclasses.replace(
            http, tokens=[*http.tokens, *_load_tokens_file(http.tokens_file)]
        )
    return Settings(source, sections)


def _inherit_time_zone(sections: dict[str, Any], data: dict[str, Any], env: dict[str, str]) -> None:
    """Sections with their own ``timezone`` follow ``service.timezone`` unless set themselves."""
    zone = sections["service"].timezone
    for name, settings in sections.items():
        if name == "service" or not any(f.name == "timezone" for f in dataclasses.fields(settings)):
            continue
        explicit = "timezone" in data.get(name, {}) or f"PINGJING_{name.upper()}_TIMEZONE" in env
        if not explicit and settings.timezone != zone:
            sections[name] = dataclasses.replace(settings, timezone=zone)


def _cross_check(sections: dict[str, Any], source: str) -> None:
    """Rules that span sections."""
    callbacks, ami = sections.get("callbacks"), sections["ami"]
    if callbacks is not None:
        longest_call = ami.outcome_timeout + ami.call_max_seconds
        if callbacks.claim_lease_seconds <= longest_call:
            raise ConfigError(
                source,
                "callbacks.claim_lease_seconds",
                f"must exceed ami.outcome_timeout + ami.call_max_seconds ({longest_call:g} s), "
                "or a call still in progress would be taken back as abandoned",
            )


def _load_tokens_file(path: str) -> list[ApiToken]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(path, "http.tokens_file", f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "http.tokens_file", f"not valid TOML: {exc}") from None
    entries = data.get("token", [])
    if not isinstance(entries, list):
        raise ConfigError(path, "token", "expected [[token]] tables")
    return [load_section(ApiToken, e, f"token[{i}]", path) for i, e in enumerate(entries)]
