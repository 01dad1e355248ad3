"""SMS comments are sorted into the IVR's five reasons by a rule set, and marked inferred."""

import pytest

from gateway.reports.reasons import classify_comment, inferred, merged, reason_label

CASES = [
    ("态度很差，等了两个小时", "attitude"),  # the first complaint wins
    ("民警很不耐烦", "attitude"),
    ("排队排了半天才办好", "efficiency"),
    ("报警后一直没人处理", "efficiency"),
    ("办个证跑了好几趟", "efficiency"),
    ("没有告知我需要带什么材料", "communication"),
    ("打电话问情况说不清楚", "communication"),
    ("身份证上的名字写错了", "operational_error"),
    ("户口信息有误", "operational_error"),
    ("不满意", "other"),
    ("希望加强巡逻", "other"),
]


@pytest.mark.parametrize(("comment", "reason"), CASES)
def test_comment_rules(comment, reason):
    assert classify_comment(comment) == reason


def test_empty_comments_have_no_reason():
    assert classify_comment(None) is None
    assert classify_comment("  3 ，") is None


def test_inferred_reasons_are_labelled_and_merge_with_ivr_keys():
    assert reason_label(inferred("attitude")) == "服务态度（短信推断）"
    assert reason_label("efficiency") == "办事效率"
    counts = merged({"attitude": 2, inferred("attitude"): 3, "weird": 1})
    assert counts["attitude"] == 5 and counts["other"] == 1
    assert list(counts) == ["attitude", "efficiency", "communication", "operational_error", "other"]
