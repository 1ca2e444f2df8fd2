"""Distillation on a tiny model: what trains, KL drops, exact resume, the loss mask, bad input."""

import json

import pytest
import torch

import ahn
from ahn.distill.data import pack, read_documents
from ahn.distill.trainer import (
    DistillConfig,
    check_resume,
    distill_loss,
    kl_per_position,
    loss_mask,
    read_checkpoint,
    sample_spec,
    set_spec,
    train,
    use_spec,
    window_choices,
)  # fmt: skip
from ahn.errors import UserError
from ahn.methods import MethodSpec

SEQ = 96


def _tiny(method="ahn-gdn"):
    return ahn.tiny_model("llama", method, window=16, sinks=0, seed=0)


def _rows(n=6, seq=SEQ):
    return torch.randint(0, 512, (n, seq), generator=torch.Generator().manual_seed(1))


def _cfg(tmp_path, **kw):
    base = dict(model="tiny", steps=4, seq_len=SEQ, out=str(tmp_path), lr=3e-3, save_every=1)
    return DistillConfig(**{**base, **kw})


def test_full_spec_is_the_base_model_with_full_attention():
    lm = _tiny()
    ids = _rows(1)
    with torch.no_grad():
        torch.nn.init.normal_(ahn.ahn_parameters(lm.model)["layers.0.o_proj"])  # a non-zero memory
        with use_spec(lm.model, MethodSpec("full")):
            teacher = lm.model(ids).logits
        student = lm.model(ids).logits
        lm.model.ahn_attached.detach()
        base = lm.model(ids).logits
    torch.testing.assert_close(teacher, base, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(student, base, atol=1e-3)  # the windowed student does differ


def test_one_step_changes_only_ahn_parameters_and_kl_drops(tmp_path):
    lm = _tiny()
    before = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    ahn_ids = {id(p) for p in ahn.ahn_parameters(lm.model).values()}
    ahn_names = {n for n, p in lm.model.named_parameters() if id(p) in ahn_ids}
    fixed, spec = _rows(1), MethodSpec("ahn-gdn", 16, 0)
    with torch.no_grad():
        kl0 = distill_loss(lm.model, fixed, spec).item()
    train(_cfg(tmp_path, steps=1), lm=lm, rows=fixed.repeat(2, 1), progress=False)
    changed = {n for n, p in lm.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= ahn_names
    train(_cfg(tmp_path / "b", steps=8, warmup=0.0, lr=1e-2, memory_sizes=[16], sink_choices=[0]),
          lm=lm, rows=fixed.repeat(2, 1), progress=False)  # fmt: skip
    with torch.no_grad():
        kl1 = distill_loss(lm.model, fixed, spec).item()
    assert kl1 < 0.7 * kl0, (kl0, kl1)


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    a, b = _tiny(), _tiny()
    rows = _rows()
    train(_cfg(tmp_path / "a"), lm=a, rows=rows, progress=False)
    train(_cfg(tmp_path / "b"), lm=b, rows=rows, progress=False, stop_after=2)  # "killed" after step 2
    resumed = _tiny()  # a fresh process: new model object, state only from the checkpoint
    result = train(_cfg(tmp_path / "b"), lm=resumed, rows=rows, resume=True, progress=False)
    assert result["steps_this_run"] == 2
    pa, pb = ahn.ahn_parameters(a.model), ahn.ahn_parameters(resumed.model)
    for name in pa:
        torch.testing.assert_close(pa[name], pb[name], rtol=0, atol=0)
    log = [json.loads(line) for line in (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]


def test_init_weights_fine_tunes_from_the_file_and_resumes_exactly(tmp_path):
    from ahn.weights import save_ahn_weights

    trained = _tiny()
    train(_cfg(tmp_path / "first"), lm=trained, rows=_rows(), progress=False)
    start = tmp_path / "start.safetensors"
    save_ahn_weights(trained.model, start)
    first = {n: p.detach().clone() for n, p in ahn.ahn_parameters(trained.model).items()}

    zero_steps = _tiny()  # lr 0: the fine-tune's parameters stay exactly what it loaded
    train(_cfg(tmp_path / "z", steps=1, lr=0.0, init_weights=str(start)), lm=zero_steps, rows=_rows(),
          progress=False)  # fmt: skip
    for name, p in ahn.ahn_parameters(zero_steps.model).items():
        torch.testing.assert_close(p, first[name], rtol=0, atol=0)

    a, b = _tiny(), _tiny()
    train(_cfg(tmp_path / "a", init_weights=str(start)), lm=a, rows=_rows(), progress=False)
    train(_cfg(tmp_path / "b", init_weights=str(start)), lm=b, rows=_rows(), progress=False, stop_after=2)
    resumed = _tiny()  # a fresh, untrained model: everything must come from the checkpoint
    train(_cfg(tmp_path / "b", init_weights=str(start)), lm=resumed, rows=_rows(), resume=True,
          progress=False)  # fmt: skip
    pa, pb = ahn.ahn_parameters(a.model), ahn.ahn_parameters(resumed.model)
    assert any(not torch.equal(pa[n], first[n]) for n in pa)  # it did train past the start
    for name in pa:
        torch.testing.assert_close(pa[name], pb[name], rtol=0, atol=0)


def test_loss_mask_starts_at_sinks_plus_window_and_kl_is_zero_before_it():
    spec = MethodSpec("ahn-gdn", 24, 8)
    mask = loss_mask(SEQ, spec)
    assert not mask[:32].any() and mask[32:].all()
    lm = _tiny()
    torch.nn.init.normal_(ahn.ahn_parameters(lm.model)["layers.1.o_proj"])
    ids = _rows(1)
    with torch.no_grad():
        set_spec(lm.model, MethodSpec("full"))
        teacher = lm.model(ids).logits
        set_spec(lm.model, spec)
        kl = kl_per_position(teacher, lm.model(ids).logits)[0]
    assert kl[:32].abs().max() < 1e-6 and (kl[32:] > 1e-6).all()


def test_sampled_windows_follow_the_paper_rule():
    cfg = DistillConfig(model="tiny", seq_len=1024)
    gen = torch.Generator().manual_seed(0)
    seen = {(s.window, s.sinks) for s in (sample_spec(gen, cfg) for _ in range(200))}
    assert seen == set(window_choices(1024, cfg.memory_sizes, cfg.sink_choices))
    for w, s in seen:
        assert 1024 / 8 < w + s < 1024 and 2 * s <= w + s and s in cfg.sink_choices


def test_bad_input(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(UserError, match="empty corpus"):
        read_documents(str(empty))
    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps({"text": "In the beginning."}) + "\n")
    tok = ahn.load_tokenizer()
    with pytest.raises(UserError, match="too short"):
        pack([str(short)], tok, 512)
    with pytest.raises(UserError, match="positions"):
        train(_cfg(tmp_path, seq_len=8192), lm=_tiny(), rows=_rows(2, 8192), progress=False)
    with pytest.raises(UserError, match="no exact-memory size"):
        DistillConfig(seq_len=8)
    train(_cfg(tmp_path / "gdn", steps=1), lm=_tiny(), rows=_rows(), progress=False)
    with pytest.raises(UserError, match="method"):
        check_resume(_cfg(tmp_path / "gdn", steps=1, method="ahn-dn"), read_checkpoint(tmp_path / "gdn"))


def test_pack_joins_documents_with_eos(tmp_path):
    text = tmp_path / "t.jsonl"
    text.write_text("".join(json.dumps({"text": f"Verse {i}: and it was so."}) + "\n" for i in range(40)))
    tok = ahn.load_tokenizer()
    rows = pack([str(text)], tok, 32)
    assert rows.shape[1] == 32 and rows.shape[0] >= 4
    assert (rows == tok.eos_token_id).sum() >= rows.numel() // 16


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    from ahn_bench.cli import main

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    train(_cfg(tmp_path / "gdn", steps=1), lm=_tiny(), rows=_rows(), progress=False)
    cases = [
        (["--data", str(empty), "--seq-len", "512"], "empty corpus"),
        (["--seq-len", "9000"], "exceeds smollm2-135m's 8192 positions"),
        (
            ["--method", "ahn-dn", "--resume", "--out", str(tmp_path / "gdn")],
            "checkpoint is for method 'ahn-gdn'",
        ),
        (["--method", "swa"], "not 'swa'"),
    ]
    for argv, message in cases:
        argv = ["distill", *argv] if "--out" in argv else ["distill", "--out", str(tmp_path / "x"), *argv]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_evaluate_table_swa_equals_untrained_and_full_has_zero_kl(tmp_path):
    from ahn.distill.evaluate import evaluate, format_table

    lm = _tiny()
    train(_cfg(tmp_path, steps=2), lm=lm, rows=_rows(), progress=False)
    lm.model.ahn_attached.detach()
    rows = evaluate(lm.model, _rows(2), "ahn-gdn", 24, 8, tmp_path / "ahn.safetensors")
    by = {(r["variant"], r["lo"]): r for r in rows}
    assert [r["lo"] for r in rows if r["variant"] == "swa"] == [0, 32, 64]
    for lo in (0, 32, 64):
        assert by[("full", lo)]["kl"] < 1e-6
        assert abs(by[("swa", lo)]["kl"] - by[("ahn-gdn untrained", lo)]["kl"]) < 1e-6  # zero W_o
    assert by[("swa", 0)]["kl"] < 1e-6 and by[("swa", 64)]["kl"] > 1e-6
    assert "KL swa" in format_table(rows)
