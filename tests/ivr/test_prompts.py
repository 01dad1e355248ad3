"""The prompt texts and ``pingjing prompts build``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.cli import main as cli_main
from ivr.prompts import PROMPTS, sound_name
from ivr.prompts.build import PromptToolError, build, render

HAN = re.compile(r"[\u4e00-\u9fff]")


def test_every_prompt_the_flow_plays_has_a_text() -> None:
    """The flow's prompt keys and the text table agree."""
    needed = {
        "greeting",
        "confirm",
        "rating",
        "menu",
        "invalid",
        "no_input",
        "record",
        "consent",
        "thanks",
        "goodbye_wrong_person",
        "goodbye_no_input",
    }
    assert needed <= set(PROMPTS)


def test_prompts_are_simplified_chinese() -> None:
    """Each text is Chinese, and none uses common traditional-only characters."""
    for key, text in PROMPTS.items():
        assert HAN.search(text), key
        assert not set(text) & set("這們話請裡對於機應"), key


def test_the_reason_menu_names_all_five_reasons_in_order() -> None:
    """1 服务态度 ... 5 其他, as the issue lists them."""
    menu = PROMPTS["menu"]
    positions = [menu.index(w) for w in ("服务态度", "办事效率", "沟通不畅", "操作错误", "其他")]
    assert positions == sorted(positions)


def test_sound_name_is_ascii_and_unknown_keys_are_named() -> None:
    """Prompts are played by an ASCII file name; an unknown key says which."""
    assert sound_name("menu") == "pingjing/menu"
    assert sound_name("menu").isascii()
    with pytest.raises(KeyError, match="nope"):
        sound_name("nope")


def test_build_without_tools_writes_the_manifest_and_says_so(tmp_path: Path) -> None:
    """No espeak-ng/sox: the manifest and one .txt per prompt exist, the tools are named."""
    report = build(tmp_path, which=lambda name: None)
    assert report.missing_tools == ["espeak-ng", "sox"]
    lines = report.manifest.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "key\tfile\ttext"
    assert f"greeting\tgreeting.wav\t{PROMPTS['greeting']}" in lines
    assert (tmp_path / "menu.txt").read_text(encoding="utf-8").strip() == PROMPTS["menu"]


def test_cli_without_tools_exits_non_zero_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pingjing prompts build` exits 3, naming what to install, and still writes the manifest."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    rc = cli_main(["prompts", "build", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 3
    assert "espeak-ng" in err and "apt-get install espeak-ng sox" in err
    assert (tmp_path / "out" / "manifest.tsv").exists()


def test_render_uses_the_pinyin_voice_and_resamples_to_8k_mono_16bit(tmp_path: Path) -> None:
    """espeak-ng -v cmn-latn-pinyin, then sox -r 8000 -c 1 -b 16 into <key>.wav."""
    calls: list[list[str]] = []

    def run(argv, **kw):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    out = render(tmp_path, "/usr/bin/espeak-ng", "/usr/bin/sox", prompts={"menu": "请按1"}, run=run)
    assert out == [tmp_path / "menu.wav"]
    espeak, sox = calls
    assert espeak[:3] == ["/usr/bin/espeak-ng", "-v", "cmn-latn-pinyin"]
    assert espeak[-1] == "请按1"
    assert sox[2:] == ["-r", "8000", "-c", "1", "-b", "16", str(tmp_path / "menu.wav")]


def test_a_failing_tool_names_itself_and_the_prompt(tmp_path: Path) -> None:
    """sox failing on 'thanks' says so, with its last line of error output."""

    def run(argv, **kw):
        code = 2 if Path(argv[0]).name == "sox" else 0
        return subprocess.CompletedProcess(argv, code, "", "sox FAIL formats: bad input\n")

    with pytest.raises(PromptToolError, match=r"sox failed on prompt 'thanks' \(exit 2\)"):
        render(tmp_path, "espeak-ng", "sox", prompts={"thanks": "谢谢"}, run=run)


def test_build_with_fake_tools_on_path_renders_every_prompt(tmp_path: Path) -> None:
    """Real subprocesses: stand-in tools that write their output file give one WAV per prompt."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, out_arg in (("espeak-ng", '"$6"'), ("sox", '"${@: -1}"')):
        tool = bin_dir / name
        tool.write_text(f"#!/bin/bash\nprintf RIFF > {out_arg}\n")
        tool.chmod(0o755)
    which = {"espeak-ng": str(bin_dir / "espeak-ng"), "sox": str(bin_dir / "sox")}.get
    report = build(tmp_path / "out", which=which)
    assert sorted(p.name for p in report.rendered) == sorted(f"{k}.wav" for k in PROMPTS)
    assert all(p.read_bytes() == b"RIFF" for p in report.rendered)


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("espeak-ng", "sox")),
    reason="espeak-ng and sox are not installed (apt-get install espeak-ng sox)",
)
def test_real_tools_render_8k_mono_16bit_pcm_asterisk_can_play(tmp_path: Path) -> None:
    """With the real espeak-ng and sox: one PCM WAV per prompt, 8000 Hz, mono, 16 bit (what
    Asterisk's ``wav`` format plays without transcoding), each a few seconds of speech."""
    import wave

    report = build(tmp_path)
    assert report.missing_tools == []
    assert sorted(p.name for p in report.rendered) == sorted(f"{k}.wav" for k in PROMPTS)
    for path in report.rendered:
        assert path.read_bytes()[20:22] == b"\x01\x00", f"{path.name} is not plain PCM"
        with wave.open(str(path), "rb") as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            seconds = w.getnframes() / w.getframerate()
        assert 1.0 < seconds < 30.0, f"{path.name}: {seconds:.1f} s"
