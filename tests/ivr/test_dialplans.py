"""The Asterisk files in dialplans/, read the way Asterisk 22's config loader reads them.

No Asterisk runs in CI, so these tests pin what a real one needs: every line is one
pbx_config / manager.conf accepts, the files can be ``#include``d into an existing
``extensions.conf`` / ``manager.conf`` without clashing with its own sections, the context the
daemon originates into exists where ``AmiSettings`` points, the AGI path and the configuration
path are set exactly once, and the AMI user holds only valid Asterisk 22 permission classes,
no more than the daemon uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ivr import agi_callback
from ivr.ami import client as ami_client
from ivr.ami.api import AmiSettings

DIALPLANS = Path(__file__).resolve().parents[2] / "dialplans"
EXTENSIONS = DIALPLANS / "extensions_pingjing.conf"
MANAGER = DIALPLANS / "manager_pingjing.conf"

#: manager.c's ``perms[]`` table in Asterisk 22: the only names ``read``/``write`` accept.
ASTERISK_22_PERMISSION_CLASSES = frozenset(
    {
        "system",
        "call",
        "log",
        "verbose",
        "command",
        "agent",
        "user",
        "config",
        "dtmf",
        "reporting",
        "cdr",
        "dialplan",
        "originate",
        "agi",
        "cc",
        "aoc",
        "test",
        "security",
        "message",
        "all",
        "none",
    }
)
#: Sections that every stock configuration already has: an included copy would clash.
RESERVED_SECTIONS = frozenset({"general", "globals"})


@dataclass
class Section:
    name: str
    lines: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, key, value)

    def values(self, key: str) -> list[str]:
        return [v for _, k, v in self.lines if k == key]


def strip_comment(line: str) -> str:
    """Asterisk's rule: ``;`` starts a comment unless escaped as ``\\;``."""
    out, i = [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if line[i] == ";":
            break
        out.append(line[i])
        i += 1
    return "".join(out).strip()


def parse(path: Path, arrow: bool) -> list[Section]:
    """Sections of ``key => value`` (``arrow``) or ``key = value`` lines; anything else fails
    the test naming the file and line, as Asterisk would refuse to load it."""
    sections: list[Section] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = strip_comment(raw)
        if not line:
            continue
        where = f"{path.name}:{number}"
        assert not line.startswith("#"), f"{where}: a directive in an included file: {line}"
        header = re.fullmatch(r"\[([A-Za-z0-9_.-]+)\](\([!+A-Za-z0-9_,-]*\))?", line)
        if header:
            sections.append(Section(header.group(1)))
            continue
        assert sections, f"{where}: a setting before any [section]"
        sep = "=>" if arrow else "="
        key, found, value = line.partition(sep)
        assert found, f"{where}: not 'key {sep} value': {line}"
        sections[-1].lines.append((number, key.strip(), value.strip()))
    return sections


@dataclass
class Priority:
    line: int
    label: str
    app: str
    args: str


def dialplan() -> dict[str, dict[str, list[Priority]]]:
    """context -> extension -> priorities, resolving ``same => n`` like pbx_config."""
    contexts: dict[str, dict[str, list[Priority]]] = {}
    for section in parse(EXTENSIONS, arrow=True):
        assert section.name not in contexts, f"context [{section.name}] defined twice"
        extens: dict[str, list[Priority]] = {}
        current: str | None = None
        for number, key, value in section.lines:
            where = f"{EXTENSIONS.name}:{number}"
            if key == "exten":
                exten, _, rest = value.partition(",")
                current = exten.strip()
                assert current not in extens, f"{where}: extension {current} defined twice"
                extens[current] = []
            elif key == "same":
                assert current is not None, f"{where}: 'same' before any 'exten'"
                rest = value
            else:
                pytest.fail(f"{where}: '{key} =>' is not a dialplan line")
            prio, _, call = rest.partition(",")
            label = prio.strip()
            m = re.fullmatch(r"([A-Za-z]+)\((.*)\)", call.strip())
            assert m, f"{where}: '{call.strip()}' is not App(arguments)"
            assert m.group(2).count("(") == m.group(2).count(")"), f"{where}: unbalanced ()"
            extens[current].append(Priority(number, label, m.group(1), m.group(2)))
        contexts[section.name] = extens
    return contexts


def all_priorities() -> list[Priority]:
    return [p for extens in dialplan().values() for ps in extens.values() for p in ps]


# -- extensions_pingjing.conf -------------------------------------------------------------------


def test_extensions_file_is_includable_next_to_an_existing_dialplan() -> None:
    """Only its own contexts: no [general] or [globals] to clash with the admin's file, and
    the install line the README gives is the one its header shows."""
    names = [s.name for s in parse(EXTENSIONS, arrow=True)]
    assert names == ["pingjing-settings", "pingjing-callback", "pingjing-inbound"]
    assert not RESERVED_SECTIONS & set(names)
    assert '#include "extensions_pingjing.conf"' in EXTENSIONS.read_text(encoding="utf-8")
    readme = (DIALPLANS / "README.md").read_text(encoding="utf-8")
    assert """echo '#include "extensions_pingjing.conf"' >> /etc/asterisk/extensions.conf""" in (
        readme
    )


def test_every_extension_starts_at_priority_1_then_numbers_with_n() -> None:
    """pbx_config needs priority 1 first; ``n`` continues it (no gaps a typo could hide)."""
    for context, extens in dialplan().items():
        for exten, prios in extens.items():
            labels = [p.label for p in prios]
            assert labels[0] == "1", f"{context},{exten} does not start at priority 1"
            assert set(labels[1:]) <= {"n"}, f"{context},{exten}: {labels}"


def test_the_daemon_originates_into_a_context_that_exists() -> None:
    """AmiSettings' default context/extension/priority is where the AGI script runs."""
    s = AmiSettings()
    plan = dialplan()
    assert s.context in plan and s.extension in plan[s.context]
    assert s.priority == 1
    apps = [p.app for p in plan[s.context][s.extension]]
    assert apps.count("AGI") == 1
    assert apps[-1] == "Hangup"


def test_a_failed_originate_has_its_failed_extension() -> None:
    """Asterisk runs ``failed`` on a dummy channel when an Originate fails; it must exist."""
    (prio, *_rest) = dialplan()[AmiSettings().context]["failed"]
    assert "${REASON}" in prio.args


def test_agi_path_and_config_path_are_set_exactly_once() -> None:
    """One place to edit: each path is Set() once, absolute, and the AGI() call uses both."""
    sets = [p.args for p in all_priorities() if p.app == "Set"]
    agi_paths = [a.split("=", 1)[1] for a in sets if a.startswith("PINGJING_AGI=")]
    conf_paths = [a.split("=", 1)[1] for a in sets if a.startswith("PINGJING_CONF=")]
    assert len(agi_paths) == 1 and agi_paths[0].startswith("/")
    assert agi_paths[0].endswith("/pingjing-agi")
    assert len(conf_paths) == 1 and conf_paths[0].startswith("/")
    agis = sorted(p.args for p in all_priorities() if p.app == "AGI")
    assert agis == ["${PINGJING_AGI},${PINGJING_CONF}", "${PINGJING_AGI},${PINGJING_CONF},inbound"]


def test_the_settings_are_a_gosub_that_returns() -> None:
    """The callback reaches the settings through Gosub, which must end in Return()."""
    plan = dialplan()
    gosubs = [p.args for p in plan["pingjing-callback"]["s"] if p.app == "Gosub"]
    assert gosubs == ["pingjing-settings,s,1"]
    assert plan["pingjing-settings"]["s"][-1].app == "Return"


def test_hangup_mode_is_the_one_the_script_is_written_for() -> None:
    """AGISIGHUP=yes; never AGIEXITONHANGUP=yes, which closes the pipes under the script."""
    sets = [p.args for p in all_priorities() if p.app == "Set"]
    assert "AGISIGHUP=yes" in sets
    assert not any(a.upper().startswith("AGIEXITONHANGUP") for a in sets)


def test_channel_variables_named_in_the_dialplan_are_the_ones_the_code_sets() -> None:
    """The variables the dialplan logs are those the AMI client sets and the script reads."""
    text = EXTENSIONS.read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{(PINGJING_[A-Z_]+)\}", text))
    set_by_code = {
        ami_client.CALLBACK_ID_VARIABLE,
        ami_client.ATTEMPT_ID_VARIABLE,
        agi_callback.RESULT_VARIABLE,
    }
    assert {agi_callback.CALLBACK_ID_VARIABLE, agi_callback.ATTEMPT_ID_VARIABLE} <= set_by_code
    assert used - {"PINGJING_AGI", "PINGJING_CONF"} <= set_by_code
    assert {"PINGJING_CALLBACK_ID", "PINGJING_ATTEMPT_ID", "PINGJING_RESULT"} <= used


def test_the_evaluation_line_runs_the_agi_program_in_inbound_mode() -> None:
    """``pingjing-inbound``: the settings by Gosub, a time limit, one AGI() with ``inbound``
    (the mode ``gateway.agi_main`` reads), then Hangup; a DID sent there directly runs ``s``."""
    from gateway import agi_main

    plan = dialplan()["pingjing-inbound"]
    apps = [p.app for p in plan["s"]]
    assert apps == ["NoOp", "Gosub", "Set", "AGI", "NoOp", "Hangup"]
    (gosub,) = [p.args for p in plan["s"] if p.app == "Gosub"]
    assert gosub == "pingjing-settings,s,1"
    assert "TIMEOUT(absolute)=900" in [p.args for p in plan["s"] if p.app == "Set"]
    (agi,) = [p.args for p in plan["s"] if p.app == "AGI"]
    assert agi.split(",")[-1] == agi_main.INBOUND_MODE
    assert [(p.app, p.args) for p in plan["_X."]] == [("Goto", "s,1")]


def test_the_readme_says_how_to_route_the_did_to_the_evaluation_line() -> None:
    readme = (DIALPLANS / "README.md").read_text(encoding="utf-8")
    assert "pingjing-inbound" in readme
    assert "Goto(pingjing-inbound,s,1)" in readme
    assert "inbound_lines" in readme and "trunk_lines" in readme


# -- manager_pingjing.conf ----------------------------------------------------------------------


def manager_user() -> Section:
    sections = parse(MANAGER, arrow=False)
    assert [s.name for s in sections] == ["pingjing"]
    assert AmiSettings().username == "pingjing"
    return sections[0]


def classes(value: str) -> set[str]:
    return {c.strip() for c in value.split(",") if c.strip()}


def test_manager_file_is_one_user_and_includable() -> None:
    """Only the [pingjing] user: no [general] overriding the administrator's."""
    user = manager_user()
    assert user.values("secret") and user.values("secret")[0]


def test_permission_classes_are_valid_asterisk_22_names() -> None:
    """A misspelt class is silently ignored by Asterisk: every name must be in its table."""
    user = manager_user()
    for key in ("read", "write"):
        (value,) = user.values(key)
        assert classes(value) <= ASTERISK_22_PERMISSION_CLASSES, f"{key} = {value}"


def test_least_privilege_write_originate_read_call() -> None:
    """Originate needs ``originate``; OriginateResponse and Hangup are ``call`` events.
    Nothing that runs commands, reads config or originates to an application (``system``)."""
    user = manager_user()
    assert classes(user.values("write")[0]) == {"originate"}
    assert classes(user.values("read")[0]) == {"call"}


def test_only_the_two_events_the_client_reads_are_let_through() -> None:
    """Legacy regex eventfilters (still accepted by Asterisk 22) for exactly the events the
    client dispatches on."""
    filters = manager_user().values("eventfilter")
    assert sorted(filters) == ["Event: Hangup", "Event: OriginateResponse"]
    source = Path(ami_client.__file__).read_text(encoding="utf-8")
    assert '"originateresponse"' in source and '"hangup"' in source


def test_login_is_refused_from_anywhere_but_localhost() -> None:
    """deny everything, then permit 127.0.0.1 only (the daemon's host)."""
    user = manager_user()
    assert user.values("deny") == ["0.0.0.0/0.0.0.0"]
    assert user.values("permit") == ["127.0.0.1/255.255.255.255"]
