"""Three departures from the official harnesses (found by a differential check): two closed, one a flag."""

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

import ahn
from benchmarks.accuracy import infinitebench as ib
from benchmarks.accuracy import lveval as lv
from benchmarks.accuracy.runner import EvalConfig
from benchmarks.accuracy.samples import FIXTURES_DIR
from benchmarks.accuracy.truncation import encode_prompt, middle_truncate


@pytest.fixture(scope="module")
def tok():
    return ahn.load_tokenizer()


TEXT = " ".join(f"word{i}" for i in range(300))


@pytest.fixture(scope="module")
def sentencepiece_like():
    """A word-level tokenizer with SentencePiece's metaspace: a token decoded first loses its space."""
    vocab = {"<unk>": 0, **{f"\u2581word{i}": i + 1 for i in range(300)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    return PreTrainedTokenizerFast(tokenizer_object=tok)


def test_infinitebench_decodes_the_kept_ids_once(sentencepiece_like):
    # src/eval_*.py truncate_by_tokens: tok.decode(head + tail): the space at the cut survives.
    out, before, cut = middle_truncate(sentencepiece_like, TEXT, 4, join=ib.TRUNCATION_JOIN)
    assert (out, before, cut) == ("word0 word1 word298 word299", 300, True)


def test_lveval_decodes_head_and_tail_apart(sentencepiece_like):
    # LVEval/utils.py truncate_prompt (as LongBench): decode(head) + decode(tail) drops that space.
    out, _, _ = middle_truncate(sentencepiece_like, TEXT, 4, join=lv.TRUNCATION_JOIN)
    assert out == "word0 word1word298 word299"


def test_infinitebench_gpt4_prompts_carry_the_system_message(tok):
    sample = next(s for s in ib.load(FIXTURES_DIR / "infinitebench", ["passkey"]))
    gpt4 = ib.build_prompt(sample, "gpt4")
    assert gpt4.preamble == ({"role": "system", "content": "You are a helpful assistant"},)
    assert ib.build_prompt(sample, "completion").preamble == ()
    enc = encode_prompt(tok, gpt4, None, chat=True)
    system = "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
    assert enc.text.startswith(system + "<|im_start|>user\n")


@pytest.mark.parametrize("name, budget", [("lveval", 15500), ("infinitebench", 128 * 1024)])
def test_upstream_protocol_is_one_flag(tmp_path, name, budget):
    data = str(FIXTURES_DIR / name)
    ours = EvalConfig(name, data, str(tmp_path / "a"))
    assert (ours.chat, ours.max_input_tokens) == (True, None)
    upstream = EvalConfig(name, data, str(tmp_path / "b"), upstream=True)
    assert (upstream.chat, upstream.max_input_tokens) == (False, budget)
    given = EvalConfig(name, data, str(tmp_path / "c"), upstream=True, max_input_tokens=7000)
    assert given.max_input_tokens == 7000
