"""Render the prompt texts to 8 kHz mono 16-bit WAV files Asterisk plays without transcoding.

espeak-ng's ``cmn-latn-pinyin`` voice reads Mandarin correctly (plain ``cmn`` spells many
characters as pinyin with English letter rules); sox resamples its 22 kHz output to what a
phone line carries. The text manifest is written first and always, so a deployment without
the tools (or one using studio recordings) still has the exact script to record.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ivr.prompts import PROMPTS

VOICE = "cmn-latn-pinyin"
MANIFEST = "manifest.tsv"
INSTALL_HINT = "apt-get install espeak-ng sox"


class PromptToolError(RuntimeError):
    """A rendering tool is missing or failed; the message names the tool and the prompt."""


@dataclass
class BuildReport:
    manifest: Path
    rendered: list[Path] = field(default_factory=list)
    missing_tools: list[str] = field(default_factory=list)


def write_manifest(out: Path, prompts: dict[str, str] = PROMPTS) -> Path:
    """``key<TAB>file<TAB>text`` per prompt, plus one ``<key>.txt`` each for a voice artist."""
    out.mkdir(parents=True, exist_ok=True)
    lines = ["key\tfile\ttext"]
    for key, text in prompts.items():
        lines.append(f"{key}\t{key}.wav\t{text}")
        (out / f"{key}.txt").write_text(text + "\n", encoding="utf-8")
    path = out / MANIFEST
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def find_tools(which: Callable[[str], str | None] = shutil.which) -> dict[str, str | None]:
    return {"espeak-ng": which("espeak-ng"), "sox": which("sox")}


def render(
    out: Path,
    espeak: str,
    sox: str,
    *,
    voice: str = VOICE,
    speed: int = 150,
    prompts: dict[str, str] = PROMPTS,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
) -> list[Path]:
    """Synthesize each prompt, then resample it to ``<key>.wav`` (8000 Hz, mono, 16 bit)."""
    rendered = []
    with tempfile.TemporaryDirectory(prefix="pingjing-prompts-") as tmp:
        for key, text in prompts.items():
            raw = Path(tmp) / f"{key}.raw.wav"
            target = out / f"{key}.wav"
            steps = [
                [espeak, "-v", voice, "-s", str(speed), "-w", str(raw), text],
                [sox, str(raw), "-r", "8000", "-c", "1", "-b", "16", str(target)],
            ]
            for argv in steps:
                done = run(argv, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    tool = Path(argv[0]).name
                    detail = (done.stderr or done.stdout or "").strip().splitlines()
                    raise PromptToolError(
                        f"{tool} failed on prompt {key!r} (exit {done.returncode}): "
                        f"{detail[-1] if detail else 'no output'}"
                    )
            rendered.append(target)
    return rendered


def build(
    out: Path,
    *,
    voice: str = VOICE,
    which: Callable[[str], str | None] = shutil.which,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
) -> BuildReport:
    report = BuildReport(manifest=write_manifest(out))
    tools = find_tools(which)
    report.missing_tools = [name for name, path in tools.items() if path is None]
    if report.missing_tools:
        return report
    report.rendered = render(out, tools["espeak-ng"], tools["sox"], voice=voice, run=run)
    return report
