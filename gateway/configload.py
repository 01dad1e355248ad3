"""Typed loading of TOML tables into dataclasses, with one clear message per mistake.

A section of the configuration file is a dataclass; its field annotations are the schema. The
loader refuses unknown keys, wrong types and missing required values, naming the file, the key
and what was expected. Each key can be overridden by ``PINGJING_<SECTION>_<KEY>`` and each secret
field ``x`` (marked ``field(metadata={"secret": True})``) can also be given as ``x_file``, a path
whose content (stripped) is the secret. Secret values never appear in any message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints
from urllib.parse import unquote, urlsplit

from gateway.masking import redact_secrets

ENV_PREFIX = "PINGJING_"


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        problem = redact_secrets(problem)
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: {key}: {problem}")


#: Field names that are secrets in any section, whether or not the dataclass marks them.
SECRET_NAMES = frozenset({"password", "secret", "token", "api_token"})


def is_secret(f: dataclasses.Field[Any]) -> bool:
    return bool(f.metadata.get("secret")) or f.name in SECRET_NAMES


def describe(tp: Any) -> str:
    """A type as an operator would read it: 'an integer', 'one of "a", "b"'."""
    origin = get_origin(tp)
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is dt.time:
        return 'a time of day such as "08:00"'
    if origin is Literal:
        return "one of " + ", ".join(
            f'"{a}"' if isinstance(a, str) else str(a) for a in get_args(tp)
        )
    if origin in (list, tuple):
        return f"a list of {describe(get_args(tp)[0])}"
    if origin in (dict, Mapping):
        return f"a table of {describe(get_args(tp)[1])}"
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        return " or ".join(describe(a) for a in inner) + " (or omitted)"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return getattr(tp, "__name__", str(tp))


def _from_env_text(text: str, tp: Any) -> Any:
    """Environment variables are strings: read them as the field's type expects."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        if text == "":
            return None
        return _from_env_text(text, inner[0])
    if tp is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        return text
    if tp is int:
        try:
            return int(text)
        except ValueError:
            return text
    if tp is float:
        try:
            return float(text)
        except ValueError:
            return text
    if origin in (list, tuple):
        return [
            _from_env_text(part.strip(), get_args(tp)[0])
            for part in text.split(",")
            if part.strip()
        ]
    return text


def convert(value: Any, tp: Any, where: str, source: str) -> Any:
    """Check ``value`` against ``tp`` and return it in that type, or raise ConfigError."""
    origin = get_origin(tp)

    def wrong() -> ConfigError:
        shown = "a table" if isinstance(value, dict) else repr(value)
        return ConfigError(source, where, f"expected {describe(tp)}, got {shown}")

    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        last: ConfigError | None = None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(value, arg, where, source)
            except ConfigError as exc:
                last = exc
        raise wrong() from last
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise wrong()
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise wrong()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise wrong()
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise wrong()
    if tp is str:
        if isinstance(value, str):
            return value
        raise wrong()
    if tp is dt.time:
        if isinstance(value, dt.time):
            return value
        if isinstance(value, str):
            try:
                return dt.time.fromisoformat(value)
            except ValueError:
                raise wrong() from None
        raise wrong()
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise wrong()
        (item_tp, *_) = get_args(tp)
        items = [convert(v, item_tp, f"{where}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            raise wrong()
        key_tp, val_tp = get_args(tp)
        return {
            convert(k, key_tp, f"{where}.{k}", source): convert(v, val_tp, f"{where}.{k}", source)
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise wrong()
        return load_section(tp, value, where, source, env=None)
    raise ConfigError(source, where, f"unsupported setting type {tp!r} (a bug in pingjing)")


def load_section(
    cls: type[Any],
    table: Mapping[str, Any],
    section: str,
    source: str,
    env: Mapping[str, str] | None = None,
) -> Any:
    """Build dataclass ``cls`` from a TOML table, applying environment overrides when given."""
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    table = dict(table)
    for key in table:
        base = key.removesuffix("_file")
        if key in fields or (key.endswith("_file") and base in fields and is_secret(fields[base])):
            continue
        known = ", ".join(sorted(fields))
        raise ConfigError(source, f"{section}.{key}", f"unknown setting (known: {known})")

    values: dict[str, Any] = {}
    for name, f in fields.items():
        where = f"{section}.{name}"
        origin = source
        raw: Any = dataclasses.MISSING
        if name in table:
            raw = table[name]
        if is_secret(f) and f"{name}_file" in table:
            raw = _read_secret_file(table[f"{name}_file"], f"{where}_file", source)
        if env is not None:
            var = f"{ENV_PREFIX}{section.upper()}_{name.upper()}".replace(".", "_")
            if var in env:
                raw, origin = _from_env_text(env[var], hints[name]), f"environment {var}"
            if is_secret(f) and f"{var}_FILE" in env:
                origin = f"environment {var}_FILE"
                raw = _read_secret_file(env[f"{var}_FILE"], where, origin)
        if raw is dataclasses.MISSING:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(source, where, f"required, expected {describe(hints[name])}")
            continue
        try:
            values[name] = convert(raw, hints[name], where, origin)
        except ConfigError as exc:
            if is_secret(f):
                raise ConfigError(origin, where, f"expected {describe(hints[name])}") from None
            raise exc
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        key, problem = section_problem(section, str(exc))
        raise ConfigError(source, key, problem) from None


def section_problem(section: str, message: str) -> tuple[str, str]:
    """The key and problem of a settings class's error: ``"smpp.port: ..."`` names its key,
    ``"callbacks: ..."`` its section (named once, not twice); anything else is the section's."""
    key, _, problem = message.partition(": ")
    if problem and (key == section or key.startswith(section + ".")):
        return key, problem
    return section, message


def _read_secret_file(path: Any, where: str, source: str) -> str:
    if not isinstance(path, str):
        raise ConfigError(source, where, "expected a file path (a string)")
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            source, where, f"cannot read secret file {path}: {exc.strerror}"
        ) from None


def redacted(obj: Any) -> Any:
    """A plain-data view of a settings tree with every secret replaced: secret fields whole,
    and the password of any URL (or ``password=`` of an endpoint) inside other strings."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if is_secret(f):
                out[f.name] = "********" if value else value
            else:
                out[f.name] = redacted(value)
        return out
    if isinstance(obj, list | tuple):
        return [redacted(v) for v in obj]
    if isinstance(obj, dict):
        return {k: redacted(v) for k, v in obj.items()}
    if isinstance(obj, dt.time):
        return obj.strftime("%H:%M")
    if isinstance(obj, str):
        return redact_secrets(obj)
    return obj


def secret_values(obj: Any) -> set[str]:
    """Every secret in a settings tree: secret fields and the passwords inside URLs, so that a
    log line or an error quoting one verbatim can still be redacted."""
    found: set[str] = set()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if is_secret(f) and isinstance(value, str) and value:
                found.add(value)
            else:
                found |= secret_values(value)
    elif isinstance(obj, list | tuple):
        for v in obj:
            found |= secret_values(v)
    elif isinstance(obj, dict):
        for v in obj.values():
            found |= secret_values(v)
    elif isinstance(obj, str) and "://" in obj:
        try:
            password = urlsplit(obj).password
        except ValueError:  # not a URL after all
            password = None
        if password:
            found.add(password)
            found.add(unquote(password))
    return found


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
