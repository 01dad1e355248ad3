"""``pingjing prompts``: the IVR's prompt texts, and rendering them to WAV for Asterisk."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: Exit status when the audio could not be produced (the text manifest still was).
EXIT_NO_AUDIO = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("prompts", help="list or render the IVR prompts")
    sub = parser.add_subparsers(dest="prompts_command", metavar="ACTION", required=True)
    build = sub.add_parser(
        "build",
        help="write the text manifest and render 8 kHz WAV files with espeak-ng + sox",
    )
    build.add_argument("--out", required=True, metavar="DIR", help="output directory")
    build.add_argument("--voice", default="cmn-latn-pinyin", help="espeak-ng voice")
    build.set_defaults(func=build_prompts)
    lst = sub.add_parser("list", help="print every prompt key and its text")
    lst.set_defaults(func=list_prompts)


def list_prompts(args: argparse.Namespace) -> int:
    from ivr.prompts import PROMPTS, sound_name

    for key, text in PROMPTS.items():
        print(f"{sound_name(key)}\t{text}")
    return 0


def build_prompts(args: argparse.Namespace) -> int:
    from ivr.prompts.build import INSTALL_HINT, PromptToolError, build

    out = Path(args.out)
    try:
        report = build(out, voice=args.voice)
    except PromptToolError as exc:
        print(f"pingjing prompts build: {exc}", file=sys.stderr)
        print(f"the text manifest is in {out / 'manifest.tsv'}", file=sys.stderr)
        return EXIT_NO_AUDIO
    except OSError as exc:
        print(f"pingjing prompts build: cannot write to {out}: {exc.strerror}", file=sys.stderr)
        return 1
    if report.missing_tools:
        print(
            f"pingjing prompts build: {' and '.join(report.missing_tools)} not installed; "
            f"no audio rendered. Install them ({INSTALL_HINT}) and run this again, or record "
            f"the prompts in a studio from {report.manifest} (8 kHz mono 16-bit WAV, one "
            f"<key>.wav per line).",
            file=sys.stderr,
        )
        print(f"wrote the text manifest: {report.manifest}")
        return EXIT_NO_AUDIO
    print(f"rendered {len(report.rendered)} prompts to {out} (manifest: {report.manifest})")
    print(f"install: copy {out}/*.wav to <astdatadir>/sounds/pingjing/ (see dialplans/README.md)")
    return 0
