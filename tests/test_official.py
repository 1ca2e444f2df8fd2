"""Official-format AHN checkpoints: loading, the forward they define, export, and bad input.

The reference below re-implements the official forward from its equations (ByteDance-Seed/AHN,
src/ahn/rnn/{gated_deltanet,delta_net,mamba2}.py, src/ahn/utils.py, qwen2_ahn.py), sharing nothing with
ahn.memory / ahn.attention / ahn.cache: an explicit sink + window mask, fla's naive recurrent (gated)
delta rule for GDN/DN, an explicit Mamba2 state loop with the whole-vector gated RMSNorm, GroupLinear's
einsum. Checkpoints are built here with the official names and shapes and random non-zero values.
"""

import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import ahn
from ahn.errors import UserError

S, W = 3, 8
T = 2 * (S + W) + 5
VARIANTS = {"ahn-gdn": "GatedDeltaNet", "ahn-dn": "DeltaNet", "ahn-mamba2": "Mamba2"}
NORM_EPS = 1e-5  # the official modules' default (BaseAHN passes none)


def official_tensors(config, method, seed=0):
    """Every official AHN parameter of every layer, random and non-zero."""
    gen = torch.Generator().manual_seed(seed)
    H, hidden = config.num_attention_heads, config.hidden_size
    D = config.head_dim

    def rnd(*shape, std=0.3, mean=0.0):
        return torch.randn(shape, generator=gen) * std + mean

    per_layer = {
        "ahn-gdn": {"b_proj.weight": rnd(H, hidden), "a_proj.weight": rnd(H, hidden), "A_log": rnd(H),
                    "D": rnd(H, mean=1.0), "dt_bias": rnd(H), "g_proj.weight": rnd(H, hidden),
                    "o_norm.weight": rnd(D, mean=1.0), "o_proj.weight": rnd(H, D, D)},
        "ahn-dn": {"b_proj.weight": rnd(H, hidden), "g_proj.weight": rnd(H, hidden),
                   "o_norm.weight": rnd(D, mean=1.0), "o_proj.weight": rnd(H, D, D)},
        "ahn-mamba2": {"dt_bias": rnd(H, mean=1.0), "A_log": rnd(H), "norm.weight": rnd(H * D, mean=1.0),
                       "dt_proj.weight": rnd(H, hidden), "dt_proj.bias": rnd(H),
                       "g_proj.weight": rnd(H, hidden), "g_proj.bias": rnd(H), "o_proj.weight": rnd(H, D, D)},
    }[method]  # fmt: skip
    return {
        f"model.layers.{i}.ahn.fn.{name}": (t if i == 0 else t.roll(i, 0) * 0.9)
        for i in range(config.num_hidden_layers)
        for name, t in per_layer.items()
    }


def write_checkpoint(directory, config, method, tensors=None, **config_fields):
    directory.mkdir(parents=True, exist_ok=True)
    save_file(
        tensors if tensors is not None else official_tensors(config, method),
        str(directory / "model.safetensors"),
    )
    fields = {"_layer_implementation": "Qwen2MemDecoderLayer", "_ahn_implementation": VARIANTS[method],
              "sliding_window": W, "num_attn_sinks": S, **config_fields}  # fmt: skip
    (directory / "config.json").write_text(json.dumps({**config.to_dict(), **fields}))
    return directory


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """Tiny Qwen2 and Qwen3 base models saved as local HF directories."""
    out = {}
    for arch in ("qwen2", "qwen3"):
        lm = ahn.tiny_model(arch, "full", seed=3)
        lm.model.ahn_attached.detach()
        path = tmp_path_factory.mktemp(arch) / "base"
        lm.model.save_pretrained(path)
        out[arch] = (path, lm.model.config)
    return out


# --- the official forward, from its equations ------------------------------------------------------------
def _l2(t, eps):  # fla's l2norm (use_qk_l2norm_in_kernel): x / sqrt(sum x^2 + eps); Mamba2: F.normalize
    return t / torch.sqrt(t.pow(2).sum(-1, keepdim=True) + eps) if eps else F.normalize(t, dim=-1)


def _rope(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos[:, :, None] + rotated * sin[:, :, None]


def official_memory(P, i, method, q, k, v, x, late=0):
    """AHN output [B, T, H, D] of layer i: token j >= S is written when query j + W (+ late) arrives, and
    that query reads the state holding tokens S..j."""
    from fla.ops.gated_delta_rule.naive import naive_recurrent_gated_delta_rule

    def p(name):
        return P[f"model.layers.{i}.ahn.fn.{name}"]

    B, T_, H, D = q.shape
    out = torch.zeros(B, T_, H, D)
    evicted = torch.arange(S, T_ - W - late)
    if len(evicted) == 0:
        return out
    readers = evicted + W + late
    xe, xr = x[:, evicted], x[:, readers]
    if method == "ahn-mamba2":  # Eq. 9: h = exp(dt A) h + dt B^T x, y = C h; B = l2(k), C = l2(q), x = v
        dt = F.softplus(xe @ p("dt_proj.weight").T + p("dt_proj.bias") + p("dt_bias"))  # (B, N, H)
        A = -p("A_log").exp()
        Bm, C, X = _l2(k[:, evicted], 0), _l2(q[:, readers], 0), v[:, evicted]
        h = torch.zeros(B, H, D, D)
        reads = []
        for n in range(len(evicted)):
            decay = torch.exp(dt[:, n] * A)[..., None, None]
            h = decay * h + dt[:, n, :, None, None] * Bm[:, n, :, :, None] * X[:, n, :, None, :]
            reads.append(torch.einsum("bhk,bhkv->bhv", C[:, n], h))
        raw = torch.stack(reads, 1)
        gate = F.silu(xr @ p("g_proj.weight").T + p("g_proj.bias"))[..., None]
        z = (raw * gate).flatten(2)  # RMSNormGated(H*D, norm_before_gate=False): one RMS over H*D
        y = (z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + NORM_EPS) * p("norm.weight")).view(B, -1, H, D)
    else:  # Eq. 5-6 / 10, fla's naive recurrent gated delta rule (log decay 0 for DN)
        beta = torch.sigmoid(xe @ p("b_proj.weight").T)
        if method == "ahn-gdn":
            g = -p("A_log").exp() * F.softplus(xe @ p("a_proj.weight").T + p("dt_bias"))
        else:
            g = torch.zeros_like(beta)
        raw, _ = naive_recurrent_gated_delta_rule(
            _l2(q[:, readers], 1e-6), _l2(k[:, evicted], 1e-6), v[:, evicted], beta, g, scale=D**-0.5
        )
        gate = F.silu(xr @ p("g_proj.weight").T)[..., None]  # FusedRMSNormSwishGate, per head
        y = raw * torch.rsqrt(raw.pow(2).mean(-1, keepdim=True) + NORM_EPS) * p("o_norm.weight") * gate
    out[:, readers] = torch.einsum("bthi,hio->btho", y, p("o_proj.weight"))  # GroupLinear
    return out


def official_logits(model, ids, P, method, late=0):
    base = model.model
    B, T_ = ids.shape
    with torch.no_grad():
        h = base.embed_tokens(ids)
        cos, sin = base.rotary_emb(h, torch.arange(T_)[None])
        t, j = torch.arange(T_)[:, None], torch.arange(T_)[None]
        allowed = (j <= t) & ((j < S) | (t - j < W))  # official mask: sink or q - k < sliding_window
        for i, layer in enumerate(base.layers):
            attn = layer.self_attn
            D = attn.head_dim
            x = layer.input_layernorm(h)
            q, k, v = (proj(x).view(B, T_, -1, D) for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
            if hasattr(attn, "q_norm"):
                q, k = attn.q_norm(q), attn.k_norm(k)
            q, k = _rope(q, cos, sin), _rope(k, cos, sin)
            rep = q.shape[2] // k.shape[2]
            k, v = k.repeat_interleave(rep, 2), v.repeat_interleave(rep, 2)
            scores = torch.einsum("bthd,bshd->bhts", q, k) * D**-0.5
            window = torch.einsum(
                "bhts,bshd->bthd", scores.masked_fill(~allowed, float("-inf")).softmax(-1), v
            )
            mem = official_memory(P, i, method, q, k, v, x, late)
            h = h + attn.o_proj((window + mem).reshape(B, T_, -1))
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        return model.lm_head(base.norm(h))


def _stream(model, ids, chunk, prefill_len):
    cache, outs = ahn.new_cache(model), []
    with torch.no_grad():
        for start in range(0, prefill_len, chunk):
            outs.append(
                model(ids[:, start : min(start + chunk, prefill_len)], cache=cache, use_cache=True).logits
            )
        for t in range(prefill_len, ids.shape[1]):
            outs.append(model(ids[:, t : t + 1], cache=cache, use_cache=True).logits)
    return torch.cat(outs, 1)


# --- tests ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["qwen2", "qwen3"])
@pytest.mark.parametrize("method", list(VARIANTS))
def test_official_checkpoint_computes_the_official_forward(bases, tmp_path, arch, method):
    base_dir, config = bases[arch]
    ckpt = write_checkpoint(tmp_path / "ckpt", config, method)
    P = official_tensors(config, method)
    lm = ahn.load_model(str(base_dir), method, weights=str(ckpt), with_tokenizer=False)
    assert (lm.spec.window, lm.spec.sinks) == (W, S)  # taken from the checkpoint's config
    assert lm.weights_note == "official ckpt"
    ids = torch.randint(0, config.vocab_size, (2, T), generator=torch.Generator().manual_seed(1))
    reference = official_logits(lm.model, ids, P, method)
    with torch.no_grad():
        parallel = lm.model(ids).logits
    assert (parallel - reference).abs().max().item() <= 1e-4  # through S + W and well beyond it
    for chunk in (1, 5):
        streamed = _stream(lm.model, ids, chunk, prefill_len=S + W + 2)
        assert (streamed - reference).abs().max().item() <= 1e-4, f"chunk {chunk}"
    # negative control: memory written one token late is a different model, visibly so
    late = official_logits(lm.model, ids, P, method, late=1)
    assert (late - reference)[:, S + W :].abs().max().item() > 1e-2
    assert (late - reference)[:, : S + W].abs().max().item() == 0  # before any eviction both are the base


def test_flags_override_the_checkpoint_setting_and_a_bare_file_loads(bases, tmp_path):
    base_dir, config = bases["qwen2"]
    ckpt = write_checkpoint(tmp_path / "ckpt", config, "ahn-gdn")
    lm = ahn.load_model(str(base_dir), "ahn-gdn", window=5, sinks=1, weights=str(ckpt), with_tokenizer=False)
    assert (lm.spec.window, lm.spec.sinks) == (5, 1)
    bare = tmp_path / "bare.safetensors"  # the weights file alone, no config beside it
    bare.write_bytes((ckpt / "model.safetensors").read_bytes())
    lm2 = ahn.load_model(str(base_dir), "ahn-gdn", window=W, sinks=S, weights=str(bare), with_tokenizer=False)
    name = "model.layers.1.ahn.fn.o_proj.weight"
    torch.testing.assert_close(
        lm2.model.model.layers[1].self_attn.ahn.o_proj, official_tensors(config, "ahn-gdn")[name]
    )


def test_export_then_load_round_trips(bases, tmp_path):
    base_dir, config = bases["qwen3"]
    for method in VARIANTS:
        src = ahn.load_model(str(base_dir), method, window=W, sinks=S, weights=None, with_tokenizer=False)
        gen = torch.Generator().manual_seed(7)
        with torch.no_grad():
            for p in ahn.ahn_parameters(src.model).values():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        ours = ahn.save_ahn_weights(src.model, tmp_path / method / "ahn.safetensors")
        out = tmp_path / method / "official"
        from ahn.weights.cli import export_weights

        export_weights(str(ours), str(base_dir), out)
        with pytest.raises(UserError, match="already holds"):
            export_weights(str(ours), str(base_dir), out)
        exported = json.loads((out / "config.json").read_text())
        assert exported["_ahn_implementation"] == VARIANTS[method]
        assert (exported["sliding_window"], exported["num_attn_sinks"]) == (W, S)
        back = ahn.load_model(str(base_dir), method, weights=str(out), with_tokenizer=False)
        a, b = ahn.ahn_parameters(src.model), ahn.ahn_parameters(back.model)
        assert all(torch.equal(a[n], b[n]) for n in a)
        ids = torch.randint(0, config.vocab_size, (1, T), generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            assert torch.equal(src.model(ids).logits, back.model(ids).logits)


def test_bad_checkpoints_are_one_line_errors(bases, tmp_path):
    base_dir, config = bases["qwen2"]

    def load(path, method="ahn-gdn"):
        return ahn.load_model(str(base_dir), method, weights=str(path), with_tokenizer=False)

    gdn = write_checkpoint(tmp_path / "gdn", config, "ahn-gdn")
    with pytest.raises(UserError, match="checkpoint is ahn-gdn, not ahn-dn"):
        load(gdn, "ahn-dn")
    other = write_checkpoint(tmp_path / "other", config, "ahn-gdn", hidden_size=128)
    with pytest.raises(UserError, match="another base model .hidden_size 128, this model 64"):
        load(other)
    bare = tmp_path / "dn.safetensors"  # no config: the variant is read from the tensor names
    save_file(official_tensors(config, "ahn-dn"), str(bare))
    with pytest.raises(UserError, match="tensors are ahn-dn's, not ahn-gdn's"):
        load(bare)
    tensors = official_tensors(config, "ahn-gdn")
    missing = dict(tensors)
    del missing["model.layers.1.ahn.fn.a_proj.weight"]
    with pytest.raises(UserError, match=r"missing tensor model\.layers\.1\.ahn\.fn\.a_proj\.weight"):
        load(write_checkpoint(tmp_path / "missing", config, "ahn-gdn", missing))
    extra = tensors | {"model.layers.0.ahn_router.alpha": torch.ones(4)}
    with pytest.raises(UserError, match=r"unexpected tensor model\.layers\.0\.ahn_router\.alpha"):
        load(write_checkpoint(tmp_path / "extra", config, "ahn-gdn", extra))
    with pytest.raises(UserError, match="use_ahn_router=True is not supported"):
        load(write_checkpoint(tmp_path / "router", config, "ahn-gdn", use_ahn_router=True))
    pickle = tmp_path / "pickle"
    pickle.mkdir()
    torch.save(tensors, pickle / "model.safetensors")  # a pickle under a safetensors name: never unpickled
    with pytest.raises(UserError, match="not a valid safetensors file"):
        load(pickle)
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "model.safetensors").write_bytes((gdn / "model.safetensors").read_bytes()[:-100])
    (truncated / "config.json").write_text((gdn / "config.json").read_text())
    with pytest.raises(UserError, match="truncated|not a valid safetensors|cannot read"):
        load(truncated)


@pytest.mark.cuda
@pytest.mark.parametrize("method", list(VARIANTS))
def test_official_checkpoint_on_cuda_matches_the_cpu_reference(bases, tmp_path, method):
    """On CUDA ahn.ops dispatches to fla's Triton kernels: the same checkpoint, the same official forward."""
    base_dir, config = bases["qwen2"]
    ckpt = write_checkpoint(tmp_path / "ckpt", config, method)
    lm = ahn.load_model(str(base_dir), method, weights=str(ckpt), with_tokenizer=False)
    ids = torch.randint(0, config.vocab_size, (2, T), generator=torch.Generator().manual_seed(1))
    reference = official_logits(lm.model, ids, official_tensors(config, method), method)
    with torch.no_grad():
        on_cuda = lm.model.to("cuda")(ids.to("cuda")).logits.cpu()
    assert (on_cuda - reference).abs().max().item() <= 2e-3  # TF32 / kernel accumulation order
