"""The lm-eval adapter (`--model ahn-bench`) through lm-eval's own evaluator, offline: three tasks from local
YAML over one local JSON file (multiple choice -> loglikelihood, generate_until, loglikelihood_rolling), on a
tiny random Llama with SmolLM2's tokenizer. `full` scores what lm-eval's `hf` model scores on the same
weights; an AHN runs the same requests on a cache of one size; bad model_args are one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ahn
from ahn.errors import UserError

lm_eval = pytest.importorskip("lm_eval", reason="optional extra: pip install -e '.[lm-eval]'")
from lm_eval.evaluator import simple_evaluate  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

from ahn_bench import lm_eval_hook  # noqa: E402
from ahn_bench.lm_eval_model import AHNBenchLM  # noqa: E402

TASKS = ["ahn_tiny_choice", "ahn_tiny_gen", "ahn_tiny_rolling"]
WINDOW, SINKS = 16, 4
COLOURS = [" red", " blue", " green"]
N_DOCS = 3

TASK_YAML = {
    "ahn_tiny_choice": """output_type: multiple_choice
doc_to_text: "{{context}}\\nThe colour is"
doc_to_choice: choices
doc_to_target: answer
metric_list:
  - metric: acc
""",
    "ahn_tiny_gen": """output_type: generate_until
doc_to_text: "{{context}}\\nThe colour is"
doc_to_target: "{{choices[answer]}}"
generation_kwargs:
  until: ["\\n", "."]
  max_gen_toks: 6
  do_sample: false
metric_list:
  - metric: exact_match
""",
    "ahn_tiny_rolling": """output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{context}}"
metric_list:
  - metric: word_perplexity
""",
}


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    """A user's own tasks: YAML files over a local JSON-lines file (no network, no hub dataset)."""
    root = tmp_path_factory.mktemp("lm_eval_tasks")
    words = (
        "the key to the old garden gate was painted a colour that nobody in the village remembered".split()
    )
    docs = []
    for i in range(N_DOCS):  # contexts of ~40-70 tokens: beyond sinks + window, so tokens are evicted
        context = " ".join(words[(i + j) % len(words)] for j in range(30 + 12 * i)) + f". Number {i}."
        docs.append({"context": context, "choices": COLOURS, "answer": i % 3})
    data = root / "tiny.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in docs))
    for task, body in TASK_YAML.items():
        header = (
            f"task: {task}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\n"
            "test_split: test\n"
        )
        (root / f"{task}.yaml").write_text(header + body + "metadata:\n  version: 1\n")
    return root


def run_tasks(lm, task_dir) -> dict:
    """Per task, the model's responses per document (lm-eval's logged samples)."""
    out = simple_evaluate(model=lm, tasks=TASKS, task_manager=TaskManager(include_path=str(task_dir),
                          include_defaults=False), log_samples=True, verbosity="ERROR")  # fmt: skip
    return {task: [s["resps"] for s in out["samples"][task]] for task in TASKS}


def loglikelihoods(resps: dict) -> list[float]:
    """Every loglikelihood in the responses: multiple-choice (ll, is_greedy) pairs and rolling sums."""
    values = []
    for doc in resps["ahn_tiny_choice"]:
        values += [float(r[0][0]) for r in doc]
    for doc in resps["ahn_tiny_rolling"]:
        values += [float(r[0]) for r in doc]
    return values


@pytest.fixture(scope="module")
def tok():
    return ahn.load_tokenizer()


def tiny(tok, method, **kwargs):
    return ahn.tiny_model("llama", method=method, vocab_size=len(tok), **kwargs)


def test_full_scores_what_lm_evals_hf_model_scores(tok, task_dir):
    from lm_eval.models.huggingface import HFLM

    base = tiny(tok, "full")
    base.model.ahn_attached.detach()  # the plain HF model, same weights (same seed)
    hf = HFLM(pretrained=base.model, tokenizer=tok, batch_size=1)
    ours = tiny(tok, "full")
    ours.tokenizer = tok
    ref, got = run_tasks(hf, task_dir), run_tasks(AHNBenchLM(pretrained=ours), task_dir)
    ref_ll, got_ll = loglikelihoods(ref), loglikelihoods(got)
    assert len(got_ll) == N_DOCS * len(COLOURS) + N_DOCS
    diff = max(abs(a - b) for a, b in zip(ref_ll, got_ll, strict=True))
    print(f"max |loglikelihood ahn-bench full - lm-eval hf| = {diff:.2e} over {len(ref_ll)} values")
    assert diff < 1e-3
    greedy = [[r[0][1] for r in doc] for doc in got["ahn_tiny_choice"]]
    assert greedy == [[r[0][1] for r in doc] for doc in ref["ahn_tiny_choice"]]
    assert got["ahn_tiny_gen"] == ref["ahn_tiny_gen"]  # greedy continuations cut at the same stop string


def test_ahn_runs_every_request_on_a_constant_size_cache(tok, task_dir):
    def adapter(method):
        lm = tiny(tok, method, window=WINDOW, sinks=SINKS)
        for name, p in ahn.ahn_parameters(lm.model).items():  # a memory that contributes: nonzero W_o
            if name.endswith("o_proj"):
                torch.nn.init.normal_(p, std=0.05, generator=torch.Generator().manual_seed(1))
        lm.tokenizer = tok
        return AHNBenchLM(pretrained=lm)

    gdn, swa = adapter("ahn-gdn"), adapter("swa")
    gdn_resps, swa_resps = run_tasks(gdn, task_dir), run_tasks(swa, task_dir)
    lengths = {entry["tokens"] for entry in gdn.cache_log}
    assert min(lengths) > SINKS + WINDOW and len(lengths) >= 2 * N_DOCS  # all evict; lengths vary
    assert len({entry["cache_bytes"] for entry in gdn.cache_log}) == 1  # ... and the cache does not grow
    assert loglikelihoods(gdn_resps) != loglikelihoods(swa_resps)  # the memory is read


def test_bad_model_args_are_one_line_errors(tok, task_dir, tmp_path):
    with pytest.raises(UserError, match="unknown method 'bogus'"):
        AHNBenchLM(pretrained="smollm2-135m", method="bogus")
    with pytest.raises(UserError, match="unknown model_args windw"):
        AHNBenchLM(pretrained="smollm2-135m", method="swa", windw=64)
    # The `lm_eval` command, with the hook a bootstrap installs (a .pth file, processed here by addsitedir).
    lm_eval_hook.write_pth(str(tmp_path))
    cli = (
        f"import site, sys; site.addsitedir({str(tmp_path)!r}); sys.argv[0] = 'lm_eval'; "
        "from lm_eval.api.registry import model_registry as r; assert 'hf' in r and 'ahn-bench' in r; "
        "from lm_eval.__main__ import cli_evaluate; cli_evaluate()"
    )
    args = ["--model", "ahn-bench", "--model_args", "pretrained=smollm2-135m,method=bogus,window=64",
            "--tasks", "ahn_tiny_choice", "--include_path", str(task_dir)]  # fmt: skip
    done = subprocess.run([sys.executable, "-c", cli, *args], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert errors == [
        "lm_eval --model ahn-bench: error: unknown method 'bogus'; known: " + ", ".join(ahn.METHODS)
    ]
