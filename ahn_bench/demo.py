"""`ahn-bench demo`: one chat prompt answered under each method, with the cache each one holds."""

from __future__ import annotations

import time

import torch
from tqdm import tqdm

import ahn
from ahn.errors import UserError

DEFAULT_PROMPT = (
    "Remember this: the secret code word is 'heliotrope'. "
    + "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. " * 12
    + "What is the secret code word?"
)


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="answer one chat prompt under each method, with cache sizes")
    p.add_argument("--model", default=ahn.DEFAULT_MODEL)
    p.add_argument("--methods", default="full,swa,ahn-gdn")
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--sinks", type=int, default=4)
    p.add_argument("--prompt", default=DEFAULT_PROMPT)
    p.add_argument("--max-new-tokens", type=int, default=24)
    p.set_defaults(handler=run_demo)


def run_demo(args) -> dict:
    if args.max_new_tokens < 1:
        raise UserError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise UserError("--methods: no method given")
    specs = [ahn.MethodSpec.build(m, args.window, args.sinks) for m in methods]  # validate before loading
    model = ahn.load_base_model(args.model)
    tokenizer = ahn.load_tokenizer(args.model)
    messages = [{"role": "user", "content": args.prompt}]
    input_ids = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    results = []
    for spec in tqdm(specs, desc="methods", unit="method"):
        with ahn.attach_method(model, spec):
            weights = _load_shipped_weights(model, args.model, spec)
            cache = ahn.new_cache(model)
            start = time.perf_counter()
            with torch.no_grad():
                logits = ahn.prefill(model, input_ids, cache)
                cache_bytes = cache.nbytes()
                new_tokens = [logits.argmax(-1)]
                eos = tokenizer.eos_token_id
                while len(new_tokens) < args.max_new_tokens and int(new_tokens[-1]) != eos:
                    new_tokens.append(ahn.decode_one_token(model, new_tokens[-1], cache).argmax(-1))
            seconds = time.perf_counter() - start
        answer = tokenizer.decode(torch.stack(new_tokens, 1)[0], skip_special_tokens=True).strip()
        results.append(
            {"method": spec.label(), "ahn_weights": weights, "answer": answer,
             "cache_bytes_after_prompt": cache_bytes, "seconds": round(seconds, 3)}
        )  # fmt: skip
    print(f"prompt: {input_ids.shape[1]} tokens; window {args.window}, sinks {args.sinks}\n")
    print(f"{'method':<28} {'cache after prompt':>18}  answer")
    for r in results:
        cache = f"{r['cache_bytes_after_prompt']:>16,} B"
        print(f"{r['method']:<28} {cache}  {r['answer']!r}  [{r['ahn_weights']}]")
    return {"model": args.model, "prompt_tokens": int(input_ids.shape[1]), "results": results}


def _load_shipped_weights(model, model_name: str, spec: ahn.MethodSpec) -> str:
    if not spec.method.trainable:
        return "none"
    from ahn.weights import find_shipped_weights

    path = find_shipped_weights(model_name, spec.name)
    if path is None:
        return "untrained AHN (zero output projection: equals swa)"
    try:
        ahn.load_ahn_weights(model, path)
    except UserError as e:
        raise UserError(f"shipped weights: {e}") from None
    return f"trained: {path.parent.name}"
