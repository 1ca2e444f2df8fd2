"""Middle truncation in tokens, then the chat template, as the official harnesses order them.

Both kinds of upstream tokenize the formatted prompt and keep the first and the last max_len//2 tokens; they
differ in how the kept tokens become text again, which matters at the cut:
  - "text": LongBench pred.py and LVEval/utils.py `truncate_prompt` decode the head and the tail apart
    (skip_special_tokens=True) and concatenate the two strings. With a SentencePiece tokenizer the tail's
    leading "▁" loses its space when decoded alone ("word27 word270" -> "word27word270").
  - "ids": InfiniteBench src/eval_*.py `truncate_by_tokens` joins head + tail as token ids and decodes them
    once, which keeps that space.
A benchmark names its way in `TRUNCATION_JOIN`. Only then is the chat format applied (LV-Eval's
model.chat / build_chat), so the template's own tokens are never cut.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ahn.errors import UserError
from benchmarks.accuracy.samples import Prompt


@dataclass(frozen=True)
class EncodedPrompt:
    input_ids: list[int]  # what the model is fed
    text: str  # the final text (chat-wrapped where the tokenizer has a template)
    prompt_tokens: int  # tokens of the raw prompt before truncation
    truncated: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


TRUNCATION_JOINS = ("text", "ids")


def middle_truncate(
    tokenizer, text: str, max_tokens: int | None, join: str = "text"
) -> tuple[str, int, bool]:
    """(text, tokens before truncation, truncated?). Tokens are counted without special tokens: upstream's
    BOS (where the tokenizer adds one) is dropped again by skip_special_tokens, and the chat template adds
    its own. An odd max_tokens keeps 2*(max_tokens//2) tokens, as upstream. `join`: see the module doc."""
    if join not in TRUNCATION_JOINS:
        raise ValueError(f"join must be one of {TRUNCATION_JOINS}, got {join!r}")
    ids = tokenizer.encode(text, add_special_tokens=False)
    if max_tokens is None or len(ids) <= max_tokens:
        return text, len(ids), False
    if max_tokens < 2:
        raise UserError(f"max input tokens must be at least 2, got {max_tokens}")
    half = max_tokens // 2
    if join == "ids":
        return tokenizer.decode(ids[:half] + ids[-half:], skip_special_tokens=True), len(ids), True
    head = tokenizer.decode(ids[:half], skip_special_tokens=True)
    tail = tokenizer.decode(ids[-half:], skip_special_tokens=True)
    return head + tail, len(ids), True


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def chat_wrap(tokenizer, prompt: Prompt, text: str | None = None) -> str:
    """The prompt as one user turn (after any preamble turns), with the generation prompt appended."""
    messages = [*prompt.preamble, {"role": "user", "content": prompt.text if text is None else text}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def encode_prompt(
    tokenizer, prompt: Prompt, max_tokens: int | None, chat: bool = True, join: str = "text"
) -> EncodedPrompt:
    """Truncate the prompt text in the middle, chat-wrap it if asked and possible, and tokenize."""
    text, before, truncated = middle_truncate(tokenizer, prompt.text, max_tokens, join)
    if chat and not prompt.raw and has_chat_template(tokenizer):
        final = chat_wrap(tokenizer, prompt, text) + prompt.answer_prefix
        ids = tokenizer.encode(final, add_special_tokens=False)  # the template carries the special tokens
    else:
        # No template: the raw prompt as upstream's default build_chat; a preamble is joined as plain text.
        final = "\n\n".join([*(m["content"] for m in prompt.preamble), text]) + prompt.answer_prefix
        ids = tokenizer.encode(final, add_special_tokens=True)
    return EncodedPrompt(list(ids), final, before, truncated)
