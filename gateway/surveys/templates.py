"""The evaluation SMS and the follow-up texts, and how many SMS parts each needs.

Templates are plain ``str.format`` strings with ``{date}``, ``{unit}``, ``{business}`` and
``{code}`` (the survey's short code, which a caller to the evaluation line enters); the
signature (【某某公安】) is prepended, as Chinese carriers require it at the start. At start-up
``check_templates`` renders each with the longest values the deployment has and warns when a text
needs more than one SMS part (each part is billed and may arrive out of order).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime

from gateway.events.schema import CATEGORY_LABELS
from gateway.surveys.settings import SurveySettings

PLACEHOLDERS = frozenset({"date", "unit", "business", "code"})
# GSM 03.38 basic alphabet (the extension table counts two septets).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€")


class TemplateError(ValueError):
    """A template that cannot be rendered: names the template and the bad placeholder."""


def sms_parts(text: str) -> int:
    """How many submit_sm parts ``text`` needs, counted the way the SMPP client will split it."""
    try:
        from gateway.smpp.encoding import is_gsm, split_text
    except ImportError:  # the SMPP package is optional for the pure survey logic
        return count_parts(text)
    return len(split_text(text, is_gsm(text)))


def count_parts(text: str) -> int:
    """Our own count: GSM 7-bit 160/153 septets, else UCS-2 70/67 code units."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        septets = sum(2 if c in _GSM_EXTENDED else 1 for c in text)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-be")) // 2
    return 1 if units <= 70 else -(-units // 67)


def format_date(moment: datetime, settings: SurveySettings) -> str:
    local = moment.astimezone(settings.zone)
    return f"{local.month}月{local.day}日"


def validate_template(name: str, template: str) -> None:
    for _, field_name, _, _ in string.Formatter().parse(template):
        if field_name is not None and field_name not in PLACEHOLDERS:
            raise TemplateError(
                f"template {name!r}: unknown placeholder {{{field_name}}} "
                f"(allowed: {', '.join(sorted(PLACEHOLDERS))})"
            )


@dataclass(frozen=True)
class RenderedSms:
    text: str
    parts: int


def render_survey(
    settings: SurveySettings,
    category: str,
    *,
    ended_at: datetime,
    unit_name: str,
    business: str | None,
    code: str = "",
) -> RenderedSms:
    """The evaluation SMS for one event, signature first (``code``: its survey code)."""
    template = settings.templates[category]
    validate_template(category, template)
    body = template.format(
        date=format_date(ended_at, settings),
        unit=unit_name,
        business=business or CATEGORY_LABELS.get(category, "服务"),
        code=code,
    )
    text = settings.signature + body
    return RenderedSms(text, sms_parts(text))


def reply_text(settings: SurveySettings, kind: str) -> str:
    """A follow-up text (thank-you per rating, opt-out confirmation, clarification)."""
    return settings.signature + settings.replies[kind]


def render_reply(settings: SurveySettings, kind: str) -> RenderedSms:
    """A follow-up text with the number of SMS parts it takes."""
    text = reply_text(settings, kind)
    return RenderedSms(text, sms_parts(text))


def check_templates(
    settings: SurveySettings, *, longest_unit: str, longest_business: str
) -> list[str]:
    """Render every text with the longest values; one warning per text needing several parts."""
    warnings = []
    longest_date = datetime(2026, 12, 30, 12, tzinfo=settings.zone)
    for category in settings.templates:
        rendered = render_survey(
            settings,
            category,
            ended_at=longest_date,
            unit_name=longest_unit,
            business=longest_business,
            code="9" * (settings.code_digits + 1),
        )
        if "{code}" not in settings.templates[category]:
            warnings.append(
                f"survey template {category!r} has no {{code}}: a caller to the evaluation "
                "line with several open surveys cannot name this one"
            )
        if rendered.parts > 1:
            warnings.append(
                f"survey template {category!r} needs {rendered.parts} SMS parts "
                f"({len(rendered.text)} characters with the longest unit and business)"
            )
    for kind in settings.replies:
        rendered = render_reply(settings, kind)
        if rendered.parts > 1:
            warnings.append(f"reply text {kind!r} needs {rendered.parts} SMS parts")
    return warnings
