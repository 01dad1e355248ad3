"""Reading a citizen's reply to the evaluation SMS the way the citizen meant it.

Pure: text in, ``Reading`` out. Rules, in order:

1. Normalise: NFKC (full-width ``１`` → ``1``, ``①`` → ``1``), the Traditional forms of the few
   characters that matter (``滿`` → ``满``, ``訂`` → ``订``), upper-case Latin letters.
2. Opt-out wins over anything else: the law requires honouring it. Besides ``TD`` and
   ``退订`` anywhere in the reply, a reply that is nothing but one of the instructions Chinese
   carriers accept on 106 service numbers (``T``, ``R``, ``QX``, ``0000``, ``00000``, ``取消``,
   ``STOP`` ..., optionally after ``回``/``回复``) opts out: these are what the footers of
   commercial SMS teach people to send (``回T退订``, ``拒收请回R``, ``发送0000取消``).
3. A leading rating digit 1-3 followed by a non-digit is the rating; the rest is the comment.
   Another rating-like digit right after it (``12``, ``1 3``) makes the reply ambiguous → unknown.
4. Otherwise the rating words: every ``满意`` is read with what precedes it, negation first
   (``不满意``, ``很不满意``, ``不太满意`` are unsatisfied although they contain ``满意``).
   Different readings in one reply → unknown; a digit and a word that disagree → unknown.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

SATISFIED = "satisfied"
BASIC = "basically_satisfied"
UNSATISFIED = "unsatisfied"
OPT_OUT = "opt_out"
UNKNOWN = "unknown"
RATINGS = (SATISFIED, BASIC, UNSATISFIED)
DIGIT_RATINGS = {"1": SATISFIED, "2": BASIC, "3": UNSATISFIED}
CHINESE_DIGITS = {"一": "1", "二": "2", "三": "3", "壹": "1", "贰": "2", "叁": "3"}

# Traditional (and Japanese) forms of the characters the rules below look at.
_TRADITIONAL = str.maketrans(
    {
        "滿": "满",
        "満": "满",
        "訂": "订",
        "際": "际",
        "還": "还",
        "氣": "气",
        "樣": "样",
        "複": "复",
        "覆": "复",
        "評": "评",
        "價": "价",
        "較": "较",
        "沒": "没",
        "無": "无",
        "擇": "择",
        "選": "选",
        "謝": "谢",
    }
)
_PUNCT = " \t\r\n.,;:!?~-_、。，；：！？…·'\"“”‘’()（）[]【】<>《》/\\"
_OPT_OUT_WORDS = (
    "退订",
    "退定",
    "取消订阅",
    "不要再发",
    "不要发了",
    "别再发",
    "别发了",
    "停止发送",
    "拒收",
    "退出",
)
_OPT_OUT_TOKEN = re.compile(r"(?<![A-Z])(TD|QXDY|UNSUBSCRIBE)(?![A-Z])")
# Instructions that opt out only when they are the whole reply: "T" or "0000" inside a longer
# text is something else ("3 T恤被抢", "等了0000").
_OPT_OUT_WHOLE = re.compile(
    r"^(?:请|请帮我)?(?:回复?|发送?)?(T|R|QX|BK|0000|00000|取消|停|停止|STOP)(?:了|吧)?$"
)
_LEADING = re.compile(r"^(?:我?(?:选择|选|评价|评|回复|打)\s*)?([0-9])(.*)$", re.S)
_NEGATIONS = ("不", "没", "无", "未")
_BASIC_MARKS = ("基本", "还算", "比较", "还比较", "较为", "一般", "还行", "凑合", "马马虎虎")
# "一般" is the everyday middle answer ("一般", "一般吧", "感觉一般"); "中评" the shopping one.
_BASIC_WORDS = (
    "还可以",
    "还行",
    "一般",
    "还好",
    "中评",
    "尚可",
    "过得去",
    "凑合",
    "将就",
    "马马虎虎",
)
_UNSATISFIED_WORDS = (
    "差评",
    "不满",
    "很差",
    "太差",
    "非常差",
    "差劲",
    "投诉",
    "不怎么样",
)
# Complaints that carry the rating but are themselves the comment ("3 接警太慢").
_COMPLAINT_WORDS = ("不好", "不太好", "不行", "太慢", "恶劣", "不作为")
_SATISFIED_WORDS = ("好评", "非常好", "很好", "点赞")
_WEAK_SATISFIED_WORDS = ("挺好", "不错", "很棒")


@dataclass(frozen=True)
class Reading:
    """What a reply says: the rating (or opt_out / unknown) and any free-text comment."""

    text: str
    rating: str
    comment: str | None

    @property
    def opt_out(self) -> bool:
        return self.rating == OPT_OUT

    @property
    def is_rating(self) -> bool:
        return self.rating in RATINGS

    def as_json(self) -> dict[str, object]:
        return {
            "text": self.text,
            "rating": self.rating,
            "comment": self.comment,
            "opt_out": self.opt_out,
        }


def _normalise_char(char: str) -> str:
    return unicodedata.normalize("NFKC", char).translate(_TRADITIONAL).upper()


def normalise(text: str) -> str:
    """The form the rules read: NFKC, simplified key characters, upper-case Latin."""
    return "".join(_normalise_char(c) for c in text)


class _Text:
    """The normalised reply plus a map back to the original, so comments keep what was typed."""

    def __init__(self, original: str) -> None:
        self.original = original
        chars: list[str] = []
        self._origin: list[int] = []
        for index, char in enumerate(original):
            for out in _normalise_char(char):
                chars.append(out)
                self._origin.append(index)
        self.norm = "".join(chars)

    def comment_from(self, norm_pos: int) -> str | None:
        """The original text from the character that produced ``norm[norm_pos]`` on."""
        if norm_pos >= len(self._origin):
            return None
        return _comment(self.original[self._origin[norm_pos] :])


def _comment(rest: str) -> str | None:
    rest = rest.strip(_PUNCT)
    return rest or None


def _word_rating(text: str, *, weak: bool = True) -> str | None:
    """The rating the words of ``text`` carry, ``UNKNOWN`` if they disagree, None if none.

    ``满意`` phrases and the strong words (``差评``, ``好评``, ``投诉`` ...) decide; the weak,
    everyday words (``一般``, ``还好``, ``不错`` ...) count only when nothing strong is said,
    so ``不满意，态度一般`` is unsatisfied and ``3 服务一般`` keeps its digit.
    """
    found: set[str] = set()
    for match in re.finditer("满意(?!度)", text):
        before = text[max(0, match.start() - 4) : match.start()]
        before = re.split(f"[{re.escape(_PUNCT)}]", before)[-1]
        scan = before.replace("不错", "").replace("不过", "")
        if any(n in scan for n in _NEGATIONS):
            found.add(UNSATISFIED)
        elif any(before.endswith(m) for m in _BASIC_MARKS):
            found.add(BASIC)
        else:
            found.add(SATISFIED)
    stripped = re.sub("满意(?!度)", "", text).replace("不好意思", "")
    if any(w in stripped for w in _UNSATISFIED_WORDS + _COMPLAINT_WORDS):
        found.add(UNSATISFIED)
    if any(w in stripped for w in _SATISFIED_WORDS):
        found.add(SATISFIED)
    if not found and weak:
        if any(w in stripped for w in _BASIC_WORDS):
            found.add(BASIC)
        if any(w in stripped for w in _WEAK_SATISFIED_WORDS):
            found.add(SATISFIED)
    if not found:
        return None
    return found.pop() if len(found) == 1 else UNKNOWN


_RATING_WORDS = "|".join(
    _UNSATISFIED_WORDS + _BASIC_WORDS + _SATISFIED_WORDS + _WEAK_SATISFIED_WORDS
)
_LEADING_WORDS = re.compile(
    "^[" + re.escape(_PUNCT) + "]*[^，,。.;；!！?？\\s]*(?:满意(?!度)|" + _RATING_WORDS + ")"
)


def _after_rating_words(text: _Text, start: int) -> str | None:
    """The comment after a leading rating phrase (``不满意，态度生硬`` → ``态度生硬``)."""
    match = _LEADING_WORDS.match(text.norm[start:])
    if match:
        return text.comment_from(start + match.end())
    return text.comment_from(start)


@functools.lru_cache(maxsize=4096)  # most replies are a few texts ("1", "2", "满意"); pure
def classify(text: str) -> Reading:
    """Read one reply; never raises, anything unreadable is ``unknown`` with the text as comment."""
    t = _Text(text)
    bare = t.norm.strip(_PUNCT)
    if not bare:
        return Reading(text, UNKNOWN, None)
    whole = _comment(text)
    if _OPT_OUT_WHOLE.match(bare.replace(" ", "")):
        return Reading(text, OPT_OUT, None)
    if _OPT_OUT_TOKEN.search(bare) or any(w in bare for w in _OPT_OUT_WORDS):
        rest = _OPT_OUT_TOKEN.sub("", t.norm)
        for w in _OPT_OUT_WORDS:
            rest = rest.replace(w, "")
        return Reading(text, OPT_OUT, _comment(rest) and whole)
    if bare in CHINESE_DIGITS:
        return Reading(text, DIGIT_RATINGS[CHINESE_DIGITS[bare]], None)
    offset = len(t.norm) - len(t.norm.lstrip(_PUNCT))
    lead = _LEADING.match(bare)
    if lead:
        digit, rest = lead.group(1), lead.group(2)
        rest_bare = rest.lstrip(_PUNCT)
        if digit not in DIGIT_RATINGS or re.match(r"[0-9]", rest_bare):
            return Reading(text, UNKNOWN, whole)
        rating = DIGIT_RATINGS[digit]
        words = _word_rating(rest_bare, weak=False)
        if words is not None and words != rating:
            return Reading(text, UNKNOWN, whole)
        rest_at = offset + lead.start(2)
        if words is not None:
            return Reading(text, rating, _after_rating_words(t, rest_at))
        return Reading(text, rating, t.comment_from(rest_at))
    words = _word_rating(bare)
    if words is None or words == UNKNOWN:
        return Reading(text, UNKNOWN, whole)
    return Reading(text, words, _after_rating_words(t, offset))
