"""Why a citizen was unsatisfied: the IVR's reason keys, and SMS comments sorted into the same
five reasons by a rule set (marked *inferred*: a person did not press a key for them).

The rules are keyword lists tried in a fixed order; the first reason with a matching keyword
wins, so "态度很差，等了两个小时" counts as 服务态度 (the citizen's first complaint is usually
the one they mean). A comment no rule matches is 其他. Tested in tests/reports/test_reasons.py.
"""

from __future__ import annotations

import re

#: Reason identifiers (``ivr.flow.REASONS``' values) and their labels, in menu order.
REASONS: dict[str, str] = {
    "attitude": "服务态度",
    "efficiency": "办事效率",
    "communication": "沟通不畅",
    "operational_error": "操作错误",
    "other": "其他",
}
INFERRED = "inferred:"

#: reason -> keywords (Simplified Chinese); order matters, see the module docstring.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "attitude",
        (
            "态度",
            "不耐烦",
            "生硬",
            "冷漠",
            "凶",
            "骂",
            "吼",
            "脸色",
            "不礼貌",
            "不理",
            "爱理不理",
            "推诿",
            "刁难",
            "嚣张",
        ),
    ),
    (
        "efficiency",
        (
            "效率",
            "慢",
            "等了",
            "等候",
            "排队",
            "拖",
            "久",
            "半天",
            "小时",
            "没人管",
            "没人处理",
            "没有处理",
            "不处理",
            "不作为",
            "没结果",
            "没有结果",
            "来得晚",
            "迟迟",
            "跑了好几趟",
            "多次",
        ),
    ),
    (
        "communication",
        (
            "沟通",
            "解释",
            "说不清",
            "没说清",
            "听不懂",
            "不告知",
            "没告知",
            "没有告知",
            "没通知",
            "没有通知",
            "不回复",
            "没回复",
            "不清楚",
            "电话打不通",
            "联系不上",
            "不说明",
        ),
    ),
    (
        "operational_error",
        (
            "错误",
            "出错",
            "弄错",
            "搞错",
            "写错",
            "填错",
            "打错",
            "录错",
            "信息有误",
            "不对",
            "错了",
            "漏",
            "丢失",
            "违规",
            "不规范",
        ),
    ),
)

_PUNCTUATION = re.compile(r"[\s\d,.，。!！?？、;；:：~～\-]+")


def classify_comment(comment: str | None) -> str | None:
    """The reason a free-text SMS comment gives, or None for an empty comment."""
    if comment is None:
        return None
    text = _PUNCTUATION.sub("", comment)
    if not text:
        return None
    for reason, keywords in RULES:
        if any(word in text for word in keywords):
            return reason
    return "other"


def inferred(reason: str) -> str:
    return INFERRED + reason


def reason_label(key: str) -> str:
    """``attitude`` → 服务态度; ``inferred:attitude`` → 服务态度（短信推断）."""
    if key.startswith(INFERRED):
        return REASONS.get(key[len(INFERRED) :], key) + "（短信推断）"
    return REASONS.get(key, key)


def merged(reasons: dict[str, int]) -> dict[str, int]:
    """Reason counts with IVR keys and inferred reasons added up, in menu order."""
    out = dict.fromkeys(REASONS, 0)
    for key, n in reasons.items():
        base = key[len(INFERRED) :] if key.startswith(INFERRED) else key
        out[base if base in out else "other"] += n
    return out
