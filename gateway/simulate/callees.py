"""How simulated citizens answer the callback: ring outcome, then what they press and say.

The PBX simulator asks a :class:`CalleeModel` once per Originate. For a call that is not
answered the model gives the OriginateResponse reason; for an answered one a :class:`CallScript`:
the inputs the callee gives, in order, to whatever the IVR asks. The script does not know the
IVR's menus (it must keep working when prompts change), so it is a plain queue consumed by the
AGI commands that read the channel: each ``GET DATA`` / ``WAIT FOR DIGIT`` (and a ``STREAM FILE``
whose escape digits include the next key, if the callee barges in) takes the next
:class:`Keys`, a ``RECORD FILE`` takes the next :class:`Speak`, and a :class:`HangUp` ends the
call at whatever command reaches it. An exhausted script is a silent line (timeouts).

:class:`SeededCallees` is the default: a share of numbers busy or not answering at first and
answering a later attempt, a few never reachable, most answering and going through the menu
(confirm identity 1, a reason 1-5, a message, consent 1/2), some hanging up half-way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from gateway.simulate.seeding import rng_for

#: The Originate variable that makes the IVR ask a non-responder for the rating first
#: (``ivr.agi_callback.ASK_RATING_VARIABLE``; kept literal so the simulator needs no IVR import).
ASK_RATING_VARIABLE = "PINGJING_ASK_RATING"

#: OriginateResponse Reason for each dial result (asterisk-facts.md).
REASONS = {"answered": 4, "busy": 5, "congestion": 8, "no_answer": 3, "failed": 0}


@dataclass(frozen=True)
class Keys:
    """DTMF the callee presses when asked; ``barge_in`` lets them press during the prompt."""

    digits: str
    barge_in: bool = False


@dataclass(frozen=True)
class Speak:
    """The callee talks for ``ms`` milliseconds, then presses ``#`` (or lets it time out)."""

    ms: int
    press_hash: bool = True


@dataclass(frozen=True)
class HangUp:
    """The callee hangs up when the IVR next reads the channel."""


Input = Keys | Speak | HangUp


@dataclass(frozen=True)
class CallScript:
    inputs: tuple[Input, ...] = ()
    label: str = ""  # what the callee means to do, for summaries ("complete", "hangs up", ...)


@dataclass(frozen=True)
class DialOutcome:
    """How an Originate ends: ``result`` is a key of :data:`REASONS`."""

    result: str
    ring_seconds: float  # until answer / busy signal; a no-answer rings until the Timeout
    script: CallScript = field(default_factory=CallScript)
    hangup_cause: int = 16
    hangup_cause_txt: str = "Normal Clearing"

    @property
    def reason(self) -> int:
        return REASONS[self.result]


class CalleeModel(Protocol):
    """Decides one Originate to ``number``; ``attempt`` counts earlier ones to it (0 first);
    ``variables`` are the Originate's channel variables (what the IVR will ask may depend on
    them)."""

    def dial(
        self, number: str, attempt: int, variables: Mapping[str, str] | None = None
    ) -> DialOutcome: ...


@dataclass
class SeededCallees:
    """The default callees, deterministic from ``seed``; the rates are per number."""

    seed: int | str = 1
    busy_first_rate: float = 0.15  # busy at the first attempt, answer a later one
    no_answer_first_rate: float = 0.12  # ring out at the first attempt(s)
    unreachable_rate: float = 0.04  # never answer any attempt
    invalid_rate: float = 0.02  # number rejected by the network (Reason 0)
    hangup_mid_menu_rate: float = 0.08
    wrong_person_rate: float = 0.04  # presses 2 at the identity question
    silent_rate: float = 0.03  # answers but presses nothing
    consent_rate: float = 0.8  # presses 1 when asked whether the message may be used

    def __post_init__(self) -> None:
        for name in (
            "busy_first_rate",
            "no_answer_first_rate",
            "unreachable_rate",
            "invalid_rate",
            "hangup_mid_menu_rate",
            "wrong_person_rate",
            "silent_rate",
            "consent_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"callee {name} must be within 0..1, got {value}")

    def _profile(self, number: str) -> str:
        r = rng_for(self.seed, "callee", number).random()
        for name, rate in (
            ("invalid", self.invalid_rate),
            ("unreachable", self.unreachable_rate),
            ("busy_first", self.busy_first_rate),
            ("no_answer_first", self.no_answer_first_rate),
        ):
            if r < rate:
                return name
            r -= rate
        return "answers"

    def dial(
        self, number: str, attempt: int, variables: Mapping[str, str] | None = None
    ) -> DialOutcome:
        rng = rng_for(self.seed, "dial", number, attempt)
        profile = self._profile(number)
        if profile == "invalid":
            return DialOutcome(
                "failed",
                rng.uniform(0.5, 2.0),
                hangup_cause=1,
                hangup_cause_txt="Unallocated (unassigned) number",
            )
        if profile == "unreachable":
            return DialOutcome(
                "no_answer" if rng.random() < 0.7 else "busy",
                rng.uniform(3, 8),
                hangup_cause=0,
                hangup_cause_txt="Unknown",
            )
        if profile == "busy_first" and attempt == 0:
            return DialOutcome(
                "busy", rng.uniform(2.0, 6.0), hangup_cause=0, hangup_cause_txt="Unknown"
            )
        if profile == "no_answer_first" and attempt < 1 + (rng.random() < 0.3):
            return DialOutcome("no_answer", 0.0, hangup_cause=0, hangup_cause_txt="Unknown")
        ask_rating = (variables or {}).get(ASK_RATING_VARIABLE, "").strip().lower() in (
            "1",
            "yes",
            "true",
        )
        return DialOutcome(
            "answered", rng.uniform(3.0, 12.0), self._script(number, attempt, ask_rating)
        )

    def _script(self, number: str, attempt: int, ask_rating: bool = False) -> CallScript:
        rng = rng_for(self.seed, "talk", number, attempt)
        r = rng.random()
        if r < self.silent_rate:
            return CallScript((), "silent")
        r -= self.silent_rate
        if r < self.wrong_person_rate:
            return CallScript((Keys("2"),), "wrong person")
        reason = str(rng.randint(1, 5))
        consent = "1" if rng.random() < self.consent_rate else "2"
        confirm = Keys("1", barge_in=rng.random() < 0.3)
        full: list[Input] = [
            confirm,
            Keys(reason),
            Speak(rng.randint(1500, 6000), press_hash=rng.random() < 0.7),
            Keys(consent),
        ]
        if ask_rating:
            # someone who never answered the SMS: the rating first; only 不满意 goes on
            rating = rng.choices("123", weights=(0.55, 0.2, 0.25))[0]
            if rating != "3":
                return CallScript((confirm, Keys(rating)), f"rates {rating} on the phone")
            full.insert(1, Keys(rating))
        if rng.random() < self.hangup_mid_menu_rate:
            cut = rng.randint(1, len(full) - 1)
            return CallScript((*full[:cut], HangUp()), f"hangs up after {cut} answer(s)")
        return CallScript(tuple(full), f"complete: reason {reason}, consent {consent}")


@dataclass
class ScriptedCallees:
    """Fixed outcomes per number, in attempt order (the last one repeats): for tests and demos
    that need one exact story."""

    outcomes: dict[str, list[DialOutcome]]
    default: DialOutcome = field(default_factory=lambda: DialOutcome("no_answer", 0.0))

    def dial(
        self, number: str, attempt: int, variables: Mapping[str, str] | None = None
    ) -> DialOutcome:
        story = self.outcomes.get(number)
        if not story:
            return self.default
        return story[min(attempt, len(story) - 1)]
