"""The evaluation line (电话评警) as pure logic against the same :class:`Channel` as the callback.

A citizen calls the number in the SMS. Nothing here knows AGI or SQL: the caller's number comes
in normalised, and a :class:`SurveyDirectory` (wired by ``gateway.agi_main`` to the database)
answers which open surveys a number or a code names. The conversation (issue 18):

1. answer; every line taken: "please call later" and hang up (``busy``);
2. the caller's open surveys (inside the reply window) by number:
   one: straight to the rating; several: 1 the most recent, 2 enter the code;
   none or a withheld number: 1 enter the code, 2 leave a complaint;
3. the code: the digits of the SMS code, ``#`` may end it, ``*`` starts again; a code that is
   malformed or names no open survey is said so and asked again (``max_tries`` in all);
4. the rating 1/2/3; 不满意 goes on at once with the reason menu, the voice message and the
   consent question, exactly the callback's (so the callback counts as done);
5. a complaint: the category menu and a voice message, for the inspectorate;
6. thanks, hang up.

Menus, timeouts, wrong and missing keys, the recording and hangups are
:class:`ivr.conversation.Conversation`'s: the same rules as the callback IVR.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ivr.conversation import (
    ALL_KEYS,
    Channel,
    Conversation,
    FlowSettings,
    RecordingInfo,
    now_iso,
)
from ivr.flow import RATINGS, REASONS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object

#: How a call ended: ``no_survey`` (no survey found and no complaint left), ``busy`` (every
#: line taken), the rest as on the callback.
ENDINGS: tuple[str, ...] = ("completed", "no_input", "no_survey", "hangup", "error", "busy")
#: How the survey was found: the caller's number (one open survey), the most recent of several,
#: or the code keyed in.
FOUND_BY: tuple[str, ...] = ("phone", "choice", "code")
#: Complaint category key -> identifier.
COMPLAINTS: dict[str, str] = {
    "1": "attitude",
    "2": "efficiency",
    "3": "misconduct",
    "4": "other",
}
RESULT_VERSION = 1


class SurveyDirectory(Protocol):
    """Which open surveys (not expired, inside the reply window) a caller can rate."""

    def by_phone(self, phone: str) -> list[int]:
        """The open surveys sent to ``phone``, oldest first."""
        ...

    def by_code(self, code: str) -> int | None:
        """The open survey whose SMS carried ``code`` (the most recent should two share it);
        None for a malformed code or one naming no open survey."""
        ...


@dataclass
class InboundResult:
    """What one call to the line produced; what the database receives."""

    channel_id: str | None
    caller: str | None = None  # normalised mobile; None: withheld or not a mobile
    survey_id: int | None = None
    found_by: str | None = None
    rating: str | None = None
    reason_key: str | None = None
    reason: str | None = None
    recording: RecordingInfo | None = None
    consent: bool | None = None
    complaint_key: str | None = None
    complaint: str | None = None
    ended_how: str = "error"
    started_at: str | None = None
    ended_at: str | None = None
    error: str | None = None
    wrong_keys: int = 0
    missed_keys: int = 0
    steps: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return self.ended_how == "busy"

    def to_json(self) -> dict[str, Any]:
        return {"v": RESULT_VERSION, "kind": "inbound", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InboundResult:
        """Rebuild a spooled result; a missing or wrong field is an error naming it."""
        if not isinstance(data, dict):
            raise ValueError(f"result must be a JSON object, got {type(data).__name__}")
        if data.get("v") != RESULT_VERSION or data.get("kind") != "inbound":
            raise ValueError(f"not an inbound result v{RESULT_VERSION}: {data.get('v')!r}")
        fields = {k: v for k, v in data.items() if k not in ("v", "kind")}
        extra = set(fields) - set(cls.__dataclass_fields__)
        if extra:
            raise ValueError(f"unknown result field(s): {', '.join(sorted(extra))}")
        if fields.get("ended_how") not in ENDINGS:
            raise ValueError(f"result field 'ended_how' is {fields.get('ended_how')!r}")
        survey_id = fields.get("survey_id")
        if survey_id is not None and (
            not isinstance(survey_id, int) or isinstance(survey_id, bool)
        ):
            raise ValueError(f"result field 'survey_id' must be an integer, got {survey_id!r}")
        if fields.get("recording") is not None:
            try:
                fields["recording"] = RecordingInfo(**fields["recording"])
            except TypeError as exc:
                raise ValueError(f"result field 'recording' is malformed: {exc}") from None
        return cls(**fields)


class InboundFlow(Conversation):
    """One call to the evaluation line. Construct, :meth:`run`, get an :class:`InboundResult`.

    ``code_length``: how many keys a survey code has (or a function giving it, asked only when a
    code is keyed); ``busy``: no line was free for this call.
    """

    def __init__(
        self,
        channel: Channel,
        result: InboundResult,
        settings: FlowSettings,
        directory: SurveyDirectory,
        *,
        code_length: int | Callable[[], int],
        busy: bool = False,
        recording_path: str | None = None,
        describe_recording: Callable[[str, bool], RecordingInfo | None] | None = None,
        now: Callable[[], str] = now_iso,
    ) -> None:
        super().__init__(
            channel,
            result,
            settings,
            recording_path=recording_path,
            describe_recording=describe_recording,
            now=now,
        )
        self.directory = directory
        self.code_length = code_length
        self.busy = busy

    def _converse(self) -> None:
        r = self.r
        self.ch.answer()
        r.steps.append("answered")
        if self.busy:
            return self._finish("busy", "line_busy")
        # The welcome plays while the surveys are looked up (``ivr.agi_inbound`` prefetches
        # them): a key pressed during it answers the first menu.
        early = self.ch.play(self._sound("line_welcome"), ALL_KEYS)
        surveys = self._by_phone()
        if len(surveys) == 1:
            r.survey_id, r.found_by = surveys[0], "phone"
            return self._rate(early)
        if surveys:
            key = self._ask(["line_several"], ["line_several"], "12", "several", early)
            if key is None:
                return self._finish("no_input", "line_no_input")
            if key == "1":
                r.survey_id, r.found_by = surveys[-1], "choice"
                return self._rate()
            return self._by_code()
        key = self._ask(["line_none"], ["line_none"], "12", "none", early)
        if key is None:
            return self._finish("no_input", "line_no_input")
        if key == "1":
            return self._by_code()
        return self._complain()

    def _by_phone(self) -> list[int]:
        if not self.r.caller:
            self.r.steps.append("caller:withheld")
            return []
        try:
            found = list(self.directory.by_phone(self.r.caller))
        except Exception as exc:  # the database is down: the caller can still use the line
            self._lookup_failed(exc)
            return []
        self.r.steps.append(f"caller:{len(found)}")
        return found

    def _lookup_failed(self, exc: Exception) -> None:
        import re

        first = (str(exc).strip().splitlines() or [""])[0]
        first = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1********@", first)  # no password
        note = f"survey lookup failed: {type(exc).__name__}: {first[:200]}"
        if note not in (self.r.error or ""):
            self.r.error = (self.r.error + "; " if self.r.error else "") + note
        self.r.steps.append("lookup:failed")

    def _by_code(self) -> None:
        found: list[int] = []
        length = self.code_length if isinstance(self.code_length, int) else self.code_length()

        def accept(code: str) -> bool:
            survey_id = None
            if len(code) == length:
                try:
                    survey_id = self.directory.by_code(code)
                except Exception as exc:
                    self._lookup_failed(exc)
            if survey_id is not None:
                found.append(survey_id)
            return survey_id is not None

        code = self._enter_digits("code", length, "code", accept)
        if code is None:
            return self._finish("no_survey", "line_no_survey")
        self.r.survey_id, self.r.found_by = found[-1], "code"
        return self._rate()

    def _rate(self, early: str = "") -> None:
        r = self.r
        key = self._ask(["rating"], ["rating"], "123", "rating", early)
        if key is None:
            return self._finish("no_input", "line_no_input")
        r.rating = RATINGS[key]
        if r.rating != "unsatisfied":
            return self._finish("completed", "line_thanks")
        key = self._ask(["menu"], ["menu"], "12345", "reason")
        if key is None:
            return self._finish("no_input", "line_no_input")
        r.reason_key, r.reason = key, REASONS[key]
        self._voice_message()
        key = self._ask(["consent"], ["consent"], "12", "consent")
        if key is not None:
            r.consent = key == "1"
        return self._finish("completed", "thanks")

    def _complain(self) -> None:
        r = self.r
        key = self._ask(["complaint_menu"], ["complaint_menu"], "".join(COMPLAINTS), "complaint")
        if key is None:
            return self._finish("no_input", "line_no_input")
        r.complaint_key, r.complaint = key, COMPLAINTS[key]
        self._voice_message()
        return self._finish("completed", "complaint_thanks")


#: Stores one call's result in its own transaction (``storage.inbound_results``).
InboundWriter = Callable[[InboundResult], object]
