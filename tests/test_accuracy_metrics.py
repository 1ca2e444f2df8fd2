"""Scorers on hand-worked cases derived from the official definitions (LVEval/metrics.py,
InfiniteBench/src/compute_scores.py). Each expected value is worked out in the comment beside it."""

import pytest

from benchmarks.accuracy import infinitebench as ib
from benchmarks.accuracy import lveval as lv
from benchmarks.accuracy import text_metrics as tm

MARTA = "Marta Quell began publishing her novels as digital books in 2020."


# ---------------------------------------------------------------------------------------------- normalisation
def test_english_normalisation_order():
    # lower -> strip ASCII punctuation -> drop a/an/the -> collapse whitespace; "the-end" loses its hyphen
    # first, so "theend" is not an article.
    assert tm.normalize_en("The Cat, an  A-team the-end!") == "cat ateam theend"
    assert tm.en_tokens("A an THE") == []


def test_chinese_normalisation_strips_cjk_punctuation_and_all_whitespace():
    # Full-width Ａ is lower-cased, not stripped; upstream's list has 》 but not 《, so 《 survives.
    assert tm.normalize_zh("《望月 桥》，“Ａ”。") == "《望月桥ａ"
    assert len(lv.ABANDON_WORDS_EN) == 38 and len(lv.ABANDON_WORDS_ZH) == 85
    assert {"and", "does", "which"} <= lv.ABANDON_WORDS_EN and {"的", "亿元", "度"} <= lv.ABANDON_WORDS_ZH


def test_token_f1():
    assert tm.token_f1([], ["a"]) == 0.0 and tm.token_f1(["a"], []) == 0.0
    assert tm.token_f1(["a", "a", "b"], ["a", "c"]) == pytest.approx(0.4)  # same=1: P=1/3, R=1/2 -> 0.4


# ------------------------------------------------------------------------------------------- LV-Eval, English
def test_en_gate_blocks_a_wordy_answer_without_the_keyword():
    pred = "There is no mention of Marta or digital books in the passage."
    assert lv.qa_f1_en(pred, MARTA) > 0.2  # plain F1 rewards the shared words ...
    assert lv.qa_f1_en_gated(pred, MARTA, "2020") == 0.0  # ... the keyword recall gate (0/1 < 0.2) does not


def test_en_gate_passes_then_plain_f1():
    # recall 1/1; pred [in, 2020] vs 11 answer tokens: same=2, P=1, R=2/11 -> F1 = 4/13
    assert lv.qa_f1_en_gated("In 2020.", MARTA, "2020") == pytest.approx(4 / 13)


@pytest.mark.parametrize(
    "keywords, expected",
    [
        (
            "alpha beta gamma delta epsilon",
            1.0,
        ),  # recall 1/5 = 0.2 is not < 0.2: passes, F1("alpha","alpha")=1
        ("alpha beta gamma delta epsilon zeta", 0.0),  # 1/6 < 0.2
        ("", 1.0),  # empty keywords: no gate
        (None, 1.0),
    ],
)
def test_en_gate_threshold(keywords, expected):
    assert lv.qa_f1_en_gated("alpha", "alpha", keywords) == expected


def test_en_blacklist_counts_in_denominator_only():
    # keywords [of, and, to, music]: "of and to" overlaps 3 words, all blacklisted -> recall 0 -> 0
    assert lv.qa_f1_en_gated("of and to", "of and to music", "of and to music") == 0.0
    # "music" -> 1/4 = 0.25 >= 0.2 -> F1([music], [of, and, to, music]) = 2*(1*1/4)/(5/4) = 0.4
    assert lv.qa_f1_en_gated("music", "of and to music", "of and to music") == pytest.approx(0.4)
    # LV-Eval's own example: keywords "services to music"; common {services, to}, "to" dropped -> 1/3 passes;
    # F1([for, services, to, medicine], [for, his, services, to, music]) = 2*(3/4*3/5)/(27/20) = 2/3
    assert lv.qa_f1_en_gated(
        "For services to medicine", "For his services to music.", "services to music"
    ) == (pytest.approx(2 / 3))


def test_en_keywords_that_normalise_to_nothing_do_not_crash():
    assert lv.qa_f1_en_gated("alpha", "alpha", "The.") == 1.0  # upstream: ZeroDivisionError


def test_factrecall_en_is_plain_f1():
    answer = "Ludwig Beethoven"
    assert lv.score_one("factrecall_en", "Ludwig Beethoven.", [answer], None) == 1.0
    assert lv.score_one("factrecall_en", "David Beckham.", [answer], None) == 0.0
    # [scientist, is, ludwig, beethoven] vs [ludwig, beethoven]: P=1/2, R=1 -> 2/3
    assert lv.score_one(
        "factrecall_en", "The scientist is Ludwig Beethoven", [answer], None
    ) == pytest.approx(2 / 3)


def test_only_the_first_answer_counts():
    assert lv.score_one("factrecall_en", "beta", ["alpha", "beta"], None) == 0.0


# ------------------------------------------------------------------------------------------- LV-Eval, Chinese
def test_jieba_segmentation_used_by_the_chinese_scorers():
    assert tm.jieba_cut("桥名叫望月桥。") == ["桥", "名叫", "望月", "桥", "。"]
    assert tm.zh_word_tokens("桥名叫望月桥。") == ["桥", "名叫", "望月", "桥"]
    assert tm.zh_word_tokens("青山镇以红茶闻名") == ["青", "山镇", "以", "红茶", "闻名"]


def test_zh_gate_falls_back_to_the_answer():
    # cmrc has no keywords: the gate uses the answer [望月, 桥]. pred [桥, 名叫, 望月, 桥]: recall 2/2;
    # F1: same=2, P=2/4, R=1 -> 2/3
    assert lv.score_one("cmrc_mixup", "桥名叫望月桥。", ["望月桥"], None) == pytest.approx(2 / 3)
    # pred [石桥, 的, 名字, 是, 观星, 桥]: recall 1/2 = 0.5 >= 0.4; F1: P=1/6, R=1/2 -> 0.25
    assert lv.score_one("cmrc_mixup", "石桥的名字是观星桥", ["望月桥"], None) == pytest.approx(0.25)


def test_zh_gate_threshold_and_blacklist():
    answer = "青山镇以红茶闻名"  # [青, 山镇, 以, 红茶, 闻名]
    # [红茶, 闻名]: recall 2/5 = 0.4, not < 0.4 -> F1 = 2*(1*0.4)/1.4 = 4/7
    assert lv.qa_f1_zh_gated("红茶闻名", answer) == pytest.approx(4 / 7)
    # [以, 红茶]: 以 is blacklisted -> recall 1/5 = 0.2 < 0.4 -> 0
    assert lv.qa_f1_zh_gated("以红茶", answer) == 0.0
    # explicit keywords "红茶": recall 1 -> F1([红茶], answer) = 2*(1*1/5)/(6/5) = 1/3
    assert lv.qa_f1_zh_gated("红茶", answer, "红茶") == pytest.approx(1 / 3)


def test_factrecall_zh_is_plain_word_f1():
    assert lv.score_one("factrecall_zh", "贝多芬。", ["贝多芬"], None) == 1.0
    assert lv.score_one("factrecall_zh", "贝克汉姆", ["贝多芬"], None) == 0.0


def test_dureader_rouge_l_with_blacklist():
    ref = "青山镇每年四月举办采茶节。"  # [青, 山镇, 每年, 四月, 举办, 采茶, 节] after the blacklist
    # [每年, 四月, 举办, 采茶, 节]: LCS 5, P=1, R=5/7 -> F = 10/12
    assert lv.score_one("dureader_mixup", "每年四月举办采茶节", [ref], None) == pytest.approx(
        10 / 12, abs=1e-6
    )
    # [在, 四月, 的, 采茶, 节] loses 在 and 的 to the blacklist: LCS 3, P=1, R=3/7 -> F = 0.6
    assert lv.score_one("dureader_mixup", "在四月的采茶节", [ref], None) == pytest.approx(0.6, abs=1e-6)
    assert lv.score_one("dureader_mixup", "", [ref], None) == 0.0  # `rouge` raises on an empty hypothesis


# ---------------------------------------------------------------------------------------------- InfiniteBench
@pytest.mark.parametrize(
    "pred, label, expected",
    [
        (" 71432. Remember it.", "71432", 1.0),
        ("The pass key is 04215", "04215", 1.0),  # leading zero kept: compared as strings
        (" 0071432", "71432", 0.0),
        ("7-1432", "71432", 0.0),  # first digit run is "7"
        ("none", "71432", 0.0),
    ],
)
def test_passkey_first_digit_run(pred, label, expected):
    assert ib.score_one("passkey", pred, label) == expected


def test_kv_word_match():
    value = "f1ec3dd8-b6e7-4af5-a589-fda0b7693f93"
    assert ib.score_one("kv_retrieval", f'The value is: "{value}".', value) == 1.0
    assert ib.score_one("kv_retrieval", f"{value[:-1]}", value) == 0.0
    assert ib.canonical_label("kv_retrieval", [value]) == value  # HF's one-element list is unwrapped


@pytest.mark.parametrize(
    "pred, label, expected",
    [
        ("A", ["Walking Georgie", "A"], 1.0),
        ("After reviewing, the answer is B", ["Walking Georgie", "A"], 1.0),  # rule 1: first character "A"
        ("Answer: C", ["12 days", "C"], 0.0),  # rule 1 again: "A" is the first character
        ("12 days", ["12 days", "C"], 1.0),  # rule 2: the option text
        ("The answer is: C", ["12 days", "C"], 1.0),  # rule 3: after "answer is:"
        ("The correct option is 12 days", ["12 days", "C"], 1.0),  # rule 3: after "option is"
        ("My answer:", ["12 days", "C"], 0.0),  # prefix at the very end
        ("I think it is D", ["12 days", "C"], 0.0),  # rule 4: first standalone A-D word
        ("Maybe AB or C", ["12 days", "C"], 0.0),  # rule 4: "AB" is a substring of "ABCD" and decides
        ("", ["12 days", "C"], 0.0),
        ("   ", ["12 days", "C"], 0.0),
    ],
)
def test_choice_parsing(pred, label, expected):
    assert ib.score_one("longbook_choice_eng", pred, label) == expected


@pytest.mark.parametrize(
    "pred, expected",
    [
        ("B. repack_carchive", 1.0),
        ("B: it is", 1.0),
        ("The answer is: repack_carchive", 1.0),
        ("The correct option is: B", 1.0),  # "option" removed -> "The correct is: B" -> after "is:"
        ("Option B", 0.0),  # no prefix survives
        ("C. cmd_gen", 0.0),
        ("", 0.0),
    ],
)
def test_code_debug_parsing(pred, expected):
    assert ib.score_one("code_debug", pred, ["repack_carchive", "B"]) == expected


def test_choice_label_from_option_text():
    options = ["3 days", "7 days", "12 days", "30 days"]
    assert ib.canonical_label("longbook_choice_eng", "12 days", options) == ["12 days", "C"]
    assert ib.canonical_label("longbook_choice_eng", ["12 days"], options) == ["12 days", "C"]
    assert ib.canonical_label("code_debug", ["f", "D"]) == ["f", "D"]


def test_qa_scorers():
    # [on, hebrides] vs [hebrides]: P=1/2, R=1 -> 2/3
    assert ib.score_one("longbook_qa_eng", "On the Hebrides.", ["the Hebrides"]) == pytest.approx(2 / 3)
    # characters [两, 个, 徒, 弟] vs [两, 个]: 2/3; vs "2" and "二": 0; the best answer counts
    assert ib.score_one("longbook_qa_chn", "两个徒弟", ["2", "两个", "二"]) == pytest.approx(2 / 3)
    # character level, not words: "望月" shares one character with "望远"
    assert ib.score_one("longbook_qa_chn", "望月", ["望远"]) == pytest.approx(0.5)


def test_dialogue_label_zero_is_matched_upper_cased_words():
    assert ib.score_one("longdialogue_qa_eng", "It is Ace.", ["ACE", "ACE ROTHSTEIN"]) == 1.0
    assert ib.score_one("longdialogue_qa_eng", "Nicky", ["ACE"]) == 0.0
    assert ib.score_one("longdialogue_qa_eng", "remo gaggi", ["remo Gaggi"]) == 0.0  # never matches upstream


def test_math_find():
    assert ib.score_one("math_find", "88", 88) == 1.0
    assert ib.score_one("math_find", "The largest is 88.0", 88) == 1.0  # upstream int("88.0") would raise
    assert ib.score_one("math_find", "-88", 88) == 1.0  # no sign in the regex
    assert ib.score_one("math_find", "33", 33.0) == 1.0
    assert ib.score_one("math_find", "33.5", 33.0) == 0.0
    assert ib.score_one("math_find", "none", 5) == 0.0
    assert ib.canonical_label("math_find", ["33.5"]) == 33.5  # HF stores numbers as strings


def test_math_calc_prefix_fraction_and_gpt4_shift():
    label = [59, 73, 78]
    assert ib.score_one("math_calc", "[59, 73, 78]", label) == 1.0
    assert ib.score_one("math_calc", "[59, 73, 79, 78]", label) == pytest.approx(2 / 3)
    assert ib.score_one("math_calc", "79, 59, 73, 78", label) == 0.0
    assert ib.score_one("math_calc", "79, 59, 73, 78", label, model_name="gpt4") == 1.0
    assert ib.canonical_label("math_calc", [[59, 73, 78]]) == label


def test_code_run_last_word():
    assert ib.score_one("code_run", "The return value is: 5", 5) == 1.0
    assert ib.score_one("code_run", "5.", 5) == 1.0
    assert ib.score_one("code_run", "-5", 5) == 0.0
    assert ib.score_one("code_run", "It is 5 for sure", 5) == 0.0


def test_summary_rouge_lsum():
    ref = "Jennifer marries an older scholar.\nShe later marries Will."
    assert ib.score_one("longbook_sum_eng", ref, [ref]) == pytest.approx(1.0)
    assert ib.score_one("longbook_sum_eng", "", [ref]) == 0.0
    partial = ib.score_one("longbook_sum_eng", "Jennifer marries Will.", [ref, "unrelated words"])
    assert 0.0 < partial < 1.0  # the better of the two references
