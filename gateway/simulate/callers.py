"""Citizens who call the evaluation line instead of replying to the survey SMS (电话评警).

The demo asks :class:`SeededCallers` about every SMS the SMSC simulator received; for a survey
SMS its recipient did not answer by text, a small share phone the number in it some minutes
later. Most are recognised by their number and rate by key; some withhold their number and key
the code printed in the SMS; the unsatisfied go on through the reason menu, a voice message and
the consent question. Every choice is a pure function of the seed and the number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.simulate.callees import CallScript, Keys, Speak
from gateway.simulate.citizens import looks_like_survey
from gateway.simulate.seeding import rng_for

#: The code in the SMS text (gateway/surveys/settings.py's default templates).
_CODE = re.compile(r"评价码(\d+)")
#: ``agi_callingpres`` of a caller who withheld the number (presentation restricted).
WITHHELD = 0x23


@dataclass(frozen=True)
class PlannedCall:
    number: str
    delay: float  # simulated seconds after the SMS arrived at the SMSC
    script: CallScript
    callingpres: int = 0


@dataclass
class SeededCallers:
    """``call_rate`` of the survey SMS nobody answered by text lead to a call."""

    seed: int | str = 1
    call_rate: float = 0.03
    withheld_rate: float = 0.25
    delay_range: tuple[float, float] = (300.0, 3600.0)

    def decide(self, destination: str, text: str, replied: bool) -> PlannedCall | None:
        if replied or not looks_like_survey(text):
            return None
        rng = rng_for(self.seed, "caller", destination)
        if rng.random() >= self.call_rate:
            return None
        rating = rng.choices("123", weights=(0.55, 0.15, 0.30))[0]
        inputs: list[Keys | Speak] = []
        pres = 0
        code = _CODE.search(text)
        if code and rng.random() < self.withheld_rate:
            pres = WITHHELD  # no number to go by: "1" enter the code, then the code
            inputs += [Keys("1"), Keys(code.group(1) + "#")]
        inputs.append(Keys(rating))
        label = {"1": "rates 1 by phone", "2": "rates 2 by phone", "3": "unsatisfied by phone"}
        if rating == "3":
            inputs += [Keys(str(rng.randint(1, 5))), Speak(rng.randint(3000, 9000)), Keys("1")]
        low, high = self.delay_range
        script = CallScript(tuple(inputs), label[rating] + (" (code)" if pres else ""))
        return PlannedCall(destination, rng.uniform(low, high), script, pres)

    def complaints(self, count: int, within: float) -> list[PlannedCall]:
        """``count`` callers with no survey who phone to complain (a category, a message),
        spread over ``within`` simulated seconds; one in four without a number."""
        rng = rng_for(self.seed, "complainers")
        planned = []
        for n in range(count):
            number = f"13{rng.randrange(10**9):09d}"
            inputs = (Keys("2"), Keys(str(rng.randint(1, 4))), Speak(rng.randint(4000, 12000)))
            planned.append(
                PlannedCall(
                    number,
                    rng.uniform(0, within),
                    CallScript(inputs, "complains"),
                    WITHHELD if n % 4 == 3 else 0,
                )
            )
        return planned
