"""How simulated citizens react to an SMS: delivered or not, and whether, what and when they reply.

The SMSC simulator asks a :class:`CitizenModel` once per received message; the model answers
with a :class:`Reaction`. :class:`SeededCitizens` is the default: rates close to what a police
evaluation campaign sees (about a quarter reply, most of them satisfied), texts taken from real
reply habits (full-width digits, a rating followed by a comment, opt-out keywords, messages that
are no rating at all), every choice a pure function of the seed, the number and how many messages
that number has received before. Integrators plug their own model to test other mixes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from gateway.simulate.seeding import rng_for

#: What a reply is meant to say, with the same names the reply classifier uses.
INTENTS = ("satisfied", "basically_satisfied", "unsatisfied", "opt_out", "unknown")

SATISFIED_TEXTS = (
    "1",
    "1",
    "１",
    "满意",
    "非常满意，谢谢",
    "1 非常感谢派出所的同志",
    "满意，民警很耐心",
)
BASIC_TEXTS = ("2", "基本满意", "2 还可以", "２")
UNSATISFIED_TEXTS = (
    "3",
    "3 接警太慢",
    "不满意，民警态度生硬",
    "不满意",
    "3 办事拖拉，跑了三趟",
)
#: Longer than one UCS2 part (70 characters): arrives as two concatenated parts with a UDH.
LONG_UNSATISFIED_TEXTS = (
    "3 不满意。那天晚上我报警说楼下有人打架，等了四十多分钟才有民警过来，到了以后也没怎么"
    "问情况，登记完就走了，后来也没有人联系我说处理结果，希望以后接警能快一点，处理认真一些。",
    "不满意，窗口的民警一直在看手机，材料明明带齐了还让我回去再开证明，来回跑了好几趟，"
    "排队又排了两个小时，态度也很生硬，问什么都不耐烦，希望能改进一下服务态度和办事效率。",
)
OPT_OUT_TEXTS = ("TD", "退订", "td")
UNKNOWN_TEXTS = ("收到", "什么意思", "好的", "N", "这是哪里")


@dataclass(frozen=True)
class Reply:
    """A citizen's answer to one SMS, sent ``delay`` simulated seconds after delivery."""

    text: str
    intent: str  # one of INTENTS: what the citizen meant, for checking the classifier
    delay: float


@dataclass(frozen=True)
class Reaction:
    """What happens to one SMS at the handset."""

    delivered: bool  # False → the receipt says UNDELIV
    receipt_delay: float  # seconds from submit to the delivery receipt
    reply: Reply | None = None


class CitizenModel(Protocol):
    """Decides, for one complete (reassembled) SMS, how its recipient reacts.

    ``destination`` is the citizen's number, ``source_addr`` the address the SMS came from (the
    reply goes back to it), ``nth`` counts the messages this number received before (0 first).
    """

    def react(self, destination: str, source_addr: str, text: str, nth: int) -> Reaction: ...


def looks_like_survey(text: str) -> bool:
    """Citizens answer evaluation requests, not confirmations: a survey asks for 满意/1/2/3."""
    return "满意" in text


@dataclass
class SeededCitizens:
    """The default citizens: deterministic from ``seed``, rates as the campaign sees them.

    ``reply_rate`` applies to survey SMS only (see ``is_survey``); the intent weights apply to
    those who reply. Delays are simulated seconds; the demo compresses them with its clock.
    """

    seed: int | str = 1
    reply_rate: float = 0.25
    undeliverable_rate: float = 0.03
    long_reply_rate: float = 0.3  # share of unsatisfied comments that are long (two parts)
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "satisfied": 0.62,
            "basically_satisfied": 0.14,
            "unsatisfied": 0.14,
            "opt_out": 0.05,
            "unknown": 0.05,
        }
    )
    receipt_delay_range: tuple[float, float] = (2.0, 20.0)
    reply_delay_range: tuple[float, float] = (30.0, 1800.0)
    is_survey: Callable[[str], bool] = looks_like_survey

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(INTENTS)
        if unknown:
            raise ValueError(f"citizen weights: unknown intent(s) {sorted(unknown)}")
        for name, value in (
            ("reply_rate", self.reply_rate),
            ("undeliverable_rate", self.undeliverable_rate),
            ("long_reply_rate", self.long_reply_rate),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"citizen {name} must be within 0..1, got {value}")
        if sum(self.weights.values()) <= 0:
            raise ValueError("citizen weights must not all be zero")

    def unreachable(self, destination: str) -> bool:
        """Whether this number never receives anything (switched off, cancelled): per number."""
        return rng_for(self.seed, "unreachable", destination).random() < self.undeliverable_rate

    def react(self, destination: str, source_addr: str, text: str, nth: int) -> Reaction:
        rng = rng_for(self.seed, "sms", destination, nth)
        low, high = self.receipt_delay_range
        receipt_delay = rng.uniform(low, high)
        if self.unreachable(destination):
            return Reaction(False, receipt_delay)
        if not self.is_survey(text) or rng.random() >= self.reply_rate:
            return Reaction(True, receipt_delay)
        intents = list(self.weights)
        intent = rng.choices(intents, weights=[self.weights[i] for i in intents])[0]
        reply_text = self._text_for(intent, rng)
        low, high = self.reply_delay_range
        # most people answer soon after reading, a few much later: skew towards the low end
        delay = receipt_delay + low + (high - low) * rng.random() ** 2
        return Reaction(True, receipt_delay, Reply(reply_text, intent, delay))

    def _text_for(self, intent: str, rng: random.Random) -> str:
        if intent == "satisfied":
            return rng.choice(SATISFIED_TEXTS)
        if intent == "basically_satisfied":
            return rng.choice(BASIC_TEXTS)
        if intent == "unsatisfied":
            if rng.random() < self.long_reply_rate:
                return rng.choice(LONG_UNSATISFIED_TEXTS)
            return rng.choice(UNSATISFIED_TEXTS)
        if intent == "opt_out":
            return rng.choice(OPT_OUT_TEXTS)
        return rng.choice(UNKNOWN_TEXTS)


@dataclass
class SilentCitizens:
    """Everything is delivered after ``receipt_delay`` and nobody replies (load tests)."""

    receipt_delay: float = 1.0

    def react(self, destination: str, source_addr: str, text: str, nth: int) -> Reaction:
        return Reaction(True, self.receipt_delay)
