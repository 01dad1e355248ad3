"""The IVR's prompt texts (Simplified Chinese) and the file name each one is played from.

The AGI script never sends these texts to Asterisk: pyst2's quoting silently drops non-ASCII
characters, so every prompt is a sound file named after its key (``pingjing/greeting`` and so
on) that ``pingjing prompts build`` renders, or a studio recording replaces.
"""

from __future__ import annotations

#: Sound files live in this subdirectory of Asterisk's sounds directory (``astdatadir/sounds``).
SOUND_SUBDIR = "pingjing"

PROMPTS: dict[str, str] = {
    "greeting": "您好，这里是公安局督察支队，就您近期对民警服务的评价进行回访。",
    "confirm": "请问您是本次评价的当事人吗？是请按1，不是请按2。",
    "rating": ("请您对民警的服务进行评价。满意请按1，基本满意请按2，不满意请按3。"),
    "menu": (
        "请选择您不满意的主要原因。服务态度请按1，办事效率请按2，沟通不畅请按3，"
        "操作错误请按4，其他原因请按5。"
    ),
    "invalid": "您的按键有误，请重新选择。",
    "no_input": "我们没有收到您的按键，请重新选择。",
    "record": "请在提示音后留下您的意见，最长六十秒，说完请按井号键。",
    "consent": "整改结果出来后，我们可以告知您吗？可以请按1，不需要请按2。",
    "thanks": "感谢您的配合，我们会认真核查并整改。再见。",
    "goodbye_wrong_person": "抱歉打扰您了，祝您生活愉快，再见。",
    "goodbye_no_input": "由于没有收到您的按键，本次回访结束。感谢您的接听，再见。",
    # the evaluation line (ivr/inbound_flow.py)
    "line_welcome": "您好，这里是公安民警服务评价热线。",
    "line_busy": "现在线路繁忙，请您稍后再拨。再见。",
    "line_several": "您有多项待评价的服务。评价最近一次服务请按1，输入短信中的评价码请按2。",
    "line_none": "未查询到您的待评价服务。输入短信中的评价码请按1，投诉或反映问题请按2。",
    "code": "请输入短信中的评价码，输完请按井号键。",
    "code_invalid": "评价码有误或已过期，请重新输入。",
    "line_no_survey": "未能找到您的评价记录。感谢您的来电，再见。",
    "line_thanks": "感谢您的评价，我们将继续努力。再见。",
    "line_no_input": "由于没有收到您的按键，本次通话结束。感谢您的来电，再见。",
    "complaint_menu": (
        "请选择您要反映的问题。服务态度请按1，办事效率请按2，执法不规范请按3，其他问题请按4。"
    ),
    "complaint_thanks": "您的意见已记录，我们将转交督察部门核查处理。感谢您的来电，再见。",
}


def sound_name(key: str, prefix: str = SOUND_SUBDIR) -> str:
    """The name STREAM FILE plays for a prompt key (no extension, as Asterisk wants it)."""
    if key not in PROMPTS:
        raise KeyError(f"unknown prompt {key!r} (known: {', '.join(sorted(PROMPTS))})")
    return f"{prefix.rstrip('/')}/{key}" if prefix else key
