"""Text normalisation, token F1 and ROUGE shared by the LV-Eval and InfiniteBench scorers.

Both official repositories copy LongBench's `normalize_answer` / `normalize_zh_answer` / `f1_score`; the
definitions below are the same functions, written once. ROUGE comes from the libraries the official code
uses: `rouge==1.0.1` (LV-Eval's dureader ROUGE-L) and `rouge-score` (what HF `evaluate.load("rouge")`
wraps, used by InfiniteBench for En.Sum's rougeLsum).
"""

from __future__ import annotations

import logging
import re
import string
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

# The fixed CJK punctuation list of `normalize_zh_answer` (LVEval/metrics.py and
# InfiniteBench/src/compute_scores.py, identical in both); it ends with an ASCII "." that
# string.punctuation already has.
CJK_PUNCTUATION = "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏."  # noqa: E501
_EN_PUNCT = frozenset(string.punctuation)
_ZH_PUNCT = frozenset(string.punctuation + CJK_PUNCTUATION)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_en(text: str) -> str:
    """Lowercase, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace (in that order)."""
    text = "".join(ch for ch in text.lower() if ch not in _EN_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def normalize_zh(text: str) -> str:
    """Lowercase, drop ASCII and CJK punctuation, remove all whitespace."""
    return "".join("".join(ch for ch in text.lower() if ch not in _ZH_PUNCT).split())


def en_tokens(text: str) -> list[str]:
    return normalize_en(text).split()


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)  # it prints "Building prefix dict ..." on first use otherwise
    return jieba


def jieba_cut(text: str) -> list[str]:
    """jieba's accurate mode (`cut_all=False`), as pinned by LV-Eval (jieba 0.42.1); raw tokens."""
    return list(_jieba().cut(text, cut_all=False))


def zh_word_tokens(text: str) -> list[str]:
    """LV-Eval's Chinese tokens: jieba words, each normalised, empty ones dropped."""
    return [t for t in (normalize_zh(w) for w in jieba_cut(text)) if t]


def zh_char_tokens(text: str) -> list[str]:
    """InfiniteBench's Chinese tokens: the characters of the normalised text (no segmentation)."""
    return list(normalize_zh(text))


def token_f1(prediction: Sequence[str], reference: Sequence[str]) -> float:
    """Multiset-overlap F1 (SQuAD / LongBench); 0 when nothing overlaps, which covers empty inputs."""
    same = sum((Counter(prediction) & Counter(reference)).values())
    if same == 0:
        return 0.0
    precision = same / len(prediction)
    recall = same / len(reference)
    return 2 * precision * recall / (precision + recall)


def rouge_l_f(prediction: str, reference: str) -> float:
    """ROUGE-L F from pip `rouge` 1.0.1 on whitespace-separated tokens; 0.0 where that library raises
    (empty hypothesis or reference), as LVEval/metrics.py `rouge_score` does with its bare except."""
    from rouge import Rouge

    try:
        return float(Rouge().get_scores([prediction], [reference], avg=True)["rouge-l"]["f"])
    except Exception:  # noqa: BLE001 - the official scorer maps every failure to 0
        return 0.0


@lru_cache(maxsize=1)
def _rouge_lsum_scorer():
    from rouge_score import rouge_scorer

    # HF evaluate's "rouge" defaults: no stemmer, rouge-score's own tokenizer.
    return rouge_scorer.RougeScorer(["rougeLsum"], use_stemmer=False)


def rouge_lsum_f(prediction: str, references: str | Sequence[str]) -> float:
    """rougeLsum F-measure as `evaluate.load("rouge").compute(..., use_aggregator=False)` returns it: a list
    of references is scored with `score_multi` (the best reference wins); sentences split on newlines."""
    scorer = _rouge_lsum_scorer()
    if isinstance(references, str):
        return float(scorer.score(references, prediction)["rougeLsum"].fmeasure)
    return float(scorer.score_multi(list(references), prediction)["rougeLsum"].fmeasure)
