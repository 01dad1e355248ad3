"""The reply classifier: every sample reads right, and much more beyond the samples."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.surveys.classifier import RATINGS, classify

# The product owner's sample of real replies, kept in the repository so every clone tests it.
SAMPLE = Path(__file__).resolve().parent / "data" / "replies-sample.tsv"


def sample_rows():
    rows = []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            text, rating = line.split("\t")
            rows.append((text, rating))
    return rows


@pytest.mark.parametrize(("text", "rating"), sample_rows())
def test_every_sample_reply_reads_as_labelled(text, rating):
    """Each line of replies-sample.tsv is read as its label."""
    assert classify(text).rating == rating


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("1", "satisfied"),
        ("１", "satisfied"),
        ("1。", "satisfied"),
        ("1！", "satisfied"),
        (" 2 ", "basically_satisfied"),
        ("②", "basically_satisfied"),
        ("三", "unsatisfied"),
        ("我选3", "unsatisfied"),
        ("选择２", "basically_satisfied"),
        ("3，打了三次电话才出警", "unsatisfied"),
        ("3 打了3次电话", "unsatisfied"),
        ("1满意", "satisfied"),
        ("1 非常满意", "satisfied"),
        ("3 不满意", "unsatisfied"),
        ("滿意", "satisfied"),
        ("非常滿意", "satisfied"),
        ("不滿意", "unsatisfied"),
        ("基本滿意", "basically_satisfied"),
        ("很满意", "satisfied"),
        ("很不满意", "unsatisfied"),
        ("不太满意", "unsatisfied"),
        ("不是很满意", "unsatisfied"),
        ("没有很满意", "unsatisfied"),
        ("比较满意", "basically_satisfied"),
        ("还算满意", "basically_satisfied"),
        ("还可以", "basically_satisfied"),
        ("不错，很满意", "satisfied"),
        ("差评", "unsatisfied"),
        ("好评！", "satisfied"),
        ("【满意】", "satisfied"),
        ("td", "opt_out"),
        ("Td", "opt_out"),
        ("ＴＤ", "opt_out"),
        ("退訂", "opt_out"),
        ("TD退订", "opt_out"),
        ("请退订", "opt_out"),
        ("3 退订", "opt_out"),
    ],
)
def test_readings_beyond_the_samples(text, rating):
    """Full-width and circled digits, Traditional forms, negation, opt-out in any case."""
    assert classify(text).rating == rating


@pytest.mark.parametrize(
    "text",
    [
        "12",
        "123",
        "1 3",
        "1，3",
        "1/2",
        "13812345678",
        "4",
        "0",
        "3 满意",
        "1 不满意",
        "满意，但是前台不满意",
        "满意度调查收到",
        "收到",
        "谢谢",
        "？",
        "",
        "   ",
        "STD",
        "TDX",
        "N",
    ],
)
def test_ambiguous_or_unrelated_replies_are_unknown(text):
    """Two ratings, a digit and words that disagree, or no rating at all: unknown."""
    assert classify(text).rating == "unknown"


@pytest.mark.parametrize(
    ("text", "comment"),
    [
        ("3 接警太慢", "接警太慢"),
        ("不满意，民警态度生硬", "民警态度生硬"),
        ("不满意。民警態度生硬", "民警態度生硬"),
        ("非常满意，感谢", "感谢"),
        ("１，谢谢民警", "谢谢民警"),
        ("1", None),
        ("满意", None),
        ("收到", "收到"),
    ],
)
def test_comment_is_the_text_after_the_rating_as_typed(text, comment):
    """The comment keeps the citizen's own characters (Traditional stays Traditional)."""
    assert classify(text).comment == comment


def test_json_form_has_the_four_keys():
    """``replies classify`` prints text, rating, comment, opt_out."""
    assert classify("TD").as_json() == {
        "text": "TD",
        "rating": "opt_out",
        "comment": None,
        "opt_out": True,
    }


@given(st.text(max_size=40))
def test_any_text_reads_without_error_into_a_known_label(text):
    """The classifier never raises and never invents a label."""
    reading = classify(text)
    assert reading.rating in (*RATINGS, "opt_out", "unknown")
    assert reading.text == text


@given(st.sampled_from(["1", "2", "3"]), st.text(alphabet="，。 ！", max_size=3))
def test_a_lone_digit_with_punctuation_is_its_rating(digit, punct):
    """``1``, ``1。``, ``1 ！`` all read as the digit's rating."""
    expected = {"1": "satisfied", "2": "basically_satisfied", "3": "unsatisfied"}[digit]
    assert classify(digit + punct).rating == expected


@given(st.sampled_from("123"), st.sampled_from("0123456789"), st.text(" ，", max_size=2))
def test_two_digits_are_never_a_rating(first, second, sep):
    """``12``, ``1 3``, ``3，1``: which one the citizen meant is unknowable."""
    assert classify(first + sep + second).rating == "unknown"


@given(st.text(alphabet="接警太慢态度好谢谢民警同志派出所", min_size=1, max_size=12))
def test_negated_satisfaction_is_never_read_as_satisfied(comment):
    """``不满意`` followed by any comment is unsatisfied, never satisfied."""
    assert classify("不满意，" + comment).rating in ("unsatisfied", "unknown")


@pytest.mark.parametrize(
    "text",
    [
        "T",
        "t",
        "Ｔ",
        "回T",
        "回复T",
        "R",
        "回R",
        "QX",
        "0000",
        "00000",
        "取消",
        "停",
        "STOP",
        "stop",
        "Unsubscribe",
        "BK",
        "回复TD",
        "别再发了",
        "不要发了",
        "停止发送",
        "请取消",
    ],
)
def test_carrier_unsubscribe_instructions_opt_out(text):
    """What 106-number SMS footers teach (回T退订, 拒收请回R, 发送0000取消) opts out."""
    assert classify(text).rating == "opt_out"


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("3 T恤被偷了没人管", "unsatisfied"),
        ("3 等了0000", "unsatisfied"),
        ("取消了我的预约，不满意", "unsatisfied"),
        ("TT", "unknown"),
    ],
)
def test_instruction_letters_inside_a_longer_reply_do_not_opt_out(text, rating):
    """``T`` or ``0000`` opt out only as the whole reply, never inside a comment."""
    assert classify(text).rating == rating


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("一般", "basically_satisfied"),
        ("一般吧", "basically_satisfied"),
        ("感觉一般", "basically_satisfied"),
        ("还好", "basically_satisfied"),
        ("还好吧", "basically_satisfied"),
        ("中评", "basically_satisfied"),
        ("尚可", "basically_satisfied"),
        ("过得去", "basically_satisfied"),
        ("2 一般", "basically_satisfied"),
        ("不错", "satisfied"),
        ("挺好的", "satisfied"),
        ("很棒，谢谢民警", "satisfied"),
        ("差劲", "unsatisfied"),
        ("不满意，态度一般", "unsatisfied"),
        ("3 服务一般，等了很久", "unsatisfied"),
        ("1 不错", "satisfied"),
    ],
)
def test_everyday_words_for_each_rating(text, rating):
    """Everyday answers read as people mean them; a strong word or the digit outranks a weak one."""
    assert classify(text).rating == rating


def test_weak_word_reply_keeps_the_rest_as_comment():
    """``一般，等太久了``: the rating word is not part of the comment."""
    assert classify("一般，等太久了").comment == "等太久了"


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("不好", "unsatisfied"),
        ("态度不太好", "unsatisfied"),
        ("出警太慢", "unsatisfied"),
        ("不好意思，很满意", "satisfied"),
        ("不好意思回复晚了，1", "unknown"),
    ],
)
def test_plain_complaints_read_unsatisfied_but_politeness_does_not(text, rating):
    """``不好`` is a complaint; ``不好意思`` (excuse me) is not."""
    assert classify(text).rating == rating
