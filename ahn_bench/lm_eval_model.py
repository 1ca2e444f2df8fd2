"""lm-evaluation-harness model `ahn-bench`: any lm-eval task under full, swa or an AHN, on ahn's cache.

  lm_eval --model ahn-bench --model_args pretrained=smollm2-135m,method=ahn-gdn,window=512,sinks=32 \
      --tasks my_task --include_path my_tasks/                        # needs the hook: lm_eval_hook.py
  import ahn_bench.lm_eval_model; lm_eval.simple_evaluate(model="ahn-bench", model_args="...", ...)
  lm_eval.simple_evaluate(model=AHNBenchLM(pretrained=ahn.load_model(...)), tasks=[...])  # a loaded model

Every request streams through one `ahn.MemoryCache`, one request at a time (an attached method takes no
padded batches): the context is prefilled in chunks, then the scored or generated tokens follow it, so a
windowed method holds sinks + window KV and the AHN state at any length (`cache_log` records the bytes
after each request). Tokenisation, the empty-context prefix token, left truncation to `max_length` and the
rolling windows are lm-eval's own (TemplateLM, as its `hf` model does them), so `method=full` scores what
`--model hf` scores on the same model. Generation is greedy (ahn.generate's rule), stopping at EOS or an
`until` string. `max_length` defaults to the model's positions for `full` and to none for windowed methods
(their cache does not grow; RoPE positions extrapolate as in the AHN paper's 128k evaluation).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from lm_eval.models.utils import has_bos_prefix
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
from tqdm import tqdm

import ahn
from ahn.errors import UserError
from ahn.generate import DEFAULT_PREFILL_CHUNK
from ahn.models import DTYPES, LoadedModel

DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's default generation budget


def _fail_on_cli(error: UserError) -> None:
    """Under the `lm_eval` command a bad model_arg is one line and exit 2 (ahn-bench's convention), not a
    traceback; from Python it stays an exception."""
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", "")
    if spec_name == "lm_eval.__main__" or Path(sys.argv[0]).name in ("lm_eval", "lm-eval"):
        print(f"lm_eval --model ahn-bench: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    raise error


@register_model("ahn-bench")
class AHNBenchLM(TemplateLM):
    def __init__(
        self,
        pretrained: str | LoadedModel = ahn.DEFAULT_MODEL,
        method: str = "full",
        window: int | None = None,
        sinks: int | None = None,
        dtype: str = "float32",
        ahn_weights: str = "shipped",
        device: str | None = None,
        max_length: int | None = None,
        max_gen_toks: int = DEFAULT_MAX_GEN_TOKS,
        prefill_chunk: int = DEFAULT_PREFILL_CHUNK,
        add_bos_token: bool | None = None,
        batch_size: int | str = 1,  # lm-eval passes these to every model; requests run one at a time
        max_batch_size: int | None = None,
        **unknown,
    ):
        super().__init__()
        try:
            self._setup(pretrained, method, window, sinks, dtype, ahn_weights, device, max_length,
                        max_gen_toks, prefill_chunk, unknown)  # fmt: skip
        except UserError as e:
            _fail_on_cli(e)
        self.add_bos_token = add_bos_token
        self.cache_log: list[dict[str, int]] = []  # per request: tokens streamed, cache bytes after them

    def _setup(self, pretrained, method, window, sinks, dtype, ahn_weights, device, max_length,
               max_gen_toks, prefill_chunk, unknown) -> None:  # fmt: skip
        if unknown:
            raise UserError(
                f"unknown model_args {', '.join(sorted(unknown))}; known: pretrained, method, window, sinks, "
                "dtype, ahn_weights, device, max_length, max_gen_toks, prefill_chunk, add_bos_token"
            )
        for name, value in (("max_gen_toks", max_gen_toks), ("prefill_chunk", prefill_chunk)):
            if not isinstance(value, int) or value < 1:
                raise UserError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(pretrained, LoadedModel):
            loaded = pretrained
            if loaded.tokenizer is None:
                raise UserError("the loaded model has no tokenizer (load it with with_tokenizer=True)")
        else:
            spec = ahn.MethodSpec.build(method, window, sinks)  # an unknown method fails before loading
            windowed = spec.windowed
            if not windowed and (window is not None or sinks is not None):
                raise UserError(f"method={spec.name} takes no window or sinks")
            if dtype not in DTYPES:
                raise UserError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
            weights = {"shipped": "shipped", "none": None}.get(ahn_weights, ahn_weights)
            loaded = ahn.load_model(str(pretrained), spec.name, spec.window, spec.sinks if windowed else None,
                                    dtype=dtype, weights=weights)  # fmt: skip
        self.loaded, self.model, self.tokenizer = loaded, loaded.model.eval(), loaded.tokenizer
        self._device = torch.device(device if device not in (None, "auto") else "cpu")
        self.model.to(self.device)
        if max_length is None and not loaded.spec.windowed:  # as lm-eval's hf model: the model's positions
            max_length = getattr(self.model.config, "max_position_embeddings", None)
        self.max_length, self.max_gen_toks, self.prefill_chunk = max_length, max_gen_toks, prefill_chunk
        self.pretrained_name = loaded.name

    # --- tokens (lm-eval's hf conventions) ----------------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def prefix_token_id(self) -> int:
        bos = self.tokenizer.bos_token_id
        return bos if bos is not None else self.eot_token_id

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs) -> list[int]:
        add = add_special_tokens if add_special_tokens is not None else self.add_bos_token
        special = {} if add is None else {"add_special_tokens": add}
        if add_special_tokens is None and has_bos_prefix(string, self.tokenizer.decode(self.prefix_token_id)):
            special = {"add_special_tokens": False}  # the string already starts with BOS
        return self.tokenizer.encode(string, **special)

    def tok_decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True)

    @property
    def tokenizer_name(self) -> str:
        return str(self.pretrained_name).replace("/", "__")

    def apply_chat_template(
        self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True
    ) -> str:
        return self.tokenizer.apply_chat_template(
            chat_history, tokenize=False, add_generation_prompt=add_generation_prompt
        )

    # --- streaming through the constant-size cache ----------------------------------------------------
    def _ids(self, tokens: list[int]) -> torch.Tensor:
        return torch.tensor([tokens], dtype=torch.long, device=self.device)  # [1, T]

    def _record(self, tokens: int, cache: ahn.MemoryCache) -> None:
        self.cache_log.append({"tokens": tokens, "cache_bytes": cache.nbytes()})

    @torch.no_grad()
    def _score(self, inputs: list[int], targets: list[int]) -> tuple[float, bool]:
        """Sum of log p(targets) where targets are the tokens following the last len(targets) positions of
        `inputs`, and whether each is the greedy choice. The unscored prefix goes through prefill."""
        split = len(inputs) - len(targets)
        ids, cache = self._ids(inputs), ahn.new_cache(self.model)
        if split > 0:
            ahn.prefill(self.model, ids[:, :split], cache, self.prefill_chunk)
        total, greedy = 0.0, True
        for start in range(split, len(inputs), self.prefill_chunk):
            chunk = ids[:, start : start + self.prefill_chunk]
            logits = self.model(chunk, cache=cache, use_cache=True).logits[0].float()  # [C, V]
            logprobs = F.log_softmax(logits, dim=-1)
            wanted = torch.tensor(targets[start - split : start - split + chunk.shape[1]], device=self.device)
            total += float(logprobs.gather(-1, wanted[:, None]).sum())
            greedy = greedy and bool((logprobs.argmax(-1) == wanted).all())
        self._record(len(inputs), cache)
        return total, greedy

    def _loglikelihood_tokens(
        self, requests, disable_tqdm: bool = False, **kwargs
    ) -> list[tuple[float, bool]]:
        results = []
        for (context, continuation), context_enc, continuation_enc in tqdm(
            requests, desc="ahn-bench loglikelihood", disable=disable_tqdm
        ):
            whole = context_enc + continuation_enc
            if self.max_length is not None:  # lm-eval's hf model keeps the last max_length + 1 tokens
                whole = whole[-(self.max_length + 1) :]
            result = self._score(whole[:-1], continuation_enc)
            results.append(result)
            self.cache_hook.add_partial("loglikelihood", (context, continuation), result)
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        results = []
        for (string,) in tqdm([r.args for r in requests], desc="ahn-bench rolling", disable=disable_tqdm):
            tokens = self.tok_encode(string)
            # One window when nothing bounds the length (a windowed method's cache does not grow).
            max_len = self.max_length or len(tokens) + 1
            windows = map(make_disjoint_window, get_rolling_token_windows(
                token_list=tokens, prefix_token=self.prefix_token_id, max_seq_len=max_len, context_len=1,
            ))  # fmt: skip
            total = sum(self._score(context + target[:-1], target)[0] for context, target in windows)
            results.append(total)
            self.cache_hook.add_partial("loglikelihood_rolling", (string,), total)
        return results

    @torch.no_grad()
    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        results = []
        for context, gen_kwargs in tqdm([r.args for r in requests], desc="ahn-bench generate",
                                        disable=disable_tqdm):  # fmt: skip
            results.append(self._generate(context, dict(gen_kwargs)))
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), results[-1])
        return results

    def _generate(self, context: str, gen_kwargs: dict) -> str:
        if gen_kwargs.pop("do_sample", False) or float(gen_kwargs.pop("temperature", 0.0) or 0.0) > 0:
            raise UserError("the ahn-bench model decodes greedily: set do_sample: false, temperature: 0")
        until = gen_kwargs.pop("until", None) or []
        until = [until] if isinstance(until, str) else list(until)
        max_new = int(gen_kwargs.pop("max_gen_toks", self.max_gen_toks))
        tokens = self.tok_encode(context)
        if self.max_length is not None:  # leave room for the answer, as lm-eval's hf model does
            tokens = tokens[-max(self.max_length - max_new, 1) :]
        cache = ahn.new_cache(self.model)
        logits = ahn.prefill(self.model, self._ids(tokens), cache, self.prefill_chunk)  # [1, V]
        new: list[int] = []
        while len(new) < max_new:
            token = int(logits.argmax(-1))
            if token == self.eot_token_id:
                break
            new.append(token)
            if until and any(stop in self.tok_decode(new) for stop in until):
                break
            logits = ahn.decode_one_token(self.model, torch.tensor([token], device=self.device), cache)
        self._record(len(tokens) + len(new), cache)
        text = self.tok_decode(new)
        for stop in until:
            if stop:
                text = text.split(stop)[0]
        return text
