"""Invariants of the AHN reference implementation on tiny random models of each architecture."""

import pytest
import torch

import ahn
from ahn.attention import attend_to_all, sink_window_attention
from ahn.cache import GROWTH_TOKENS
from ahn.errors import UserError

ARCHS = ["llama", "qwen2", "qwen3"]
WINDOWED = ["swa", "ahn-gdn", "ahn-dn", "ahn-mamba2"]
AHN_METHODS = ["ahn-gdn", "ahn-dn", "ahn-mamba2"]
VOCAB = 512


def _ids(T, B=2, seed=0):
    return torch.randint(0, VOCAB, (B, T), generator=torch.Generator().manual_seed(seed))


def _logits(model, ids):
    with torch.no_grad():
        return model(ids).logits


def _perturb_output_projections(model, std=0.3, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in ahn.ahn_parameters(model).items():
            if name.endswith("o_proj"):
                p.copy_(torch.randn(p.shape, generator=gen) * std)


def _explicit_sink_window_mask(T, sinks, window):
    t = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    allowed = (j <= t) & ((j < sinks) | (j > t - window))
    return torch.zeros(T, T).masked_fill(~allowed, float("-inf"))[None, None]


@pytest.fixture(scope="module")
def base_logits():
    """Logits of each unpatched base model on the same input."""
    out = {}
    for arch in ARCHS:
        lm = ahn.tiny_model(arch, "full")
        lm.model.ahn_attached.detach()
        out[arch] = _logits(lm.model, _ids(48))
    return out


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", ["full", *WINDOWED])
def test_window_covering_input_equals_base_model(arch, method, base_logits):
    # T = 48 <= sinks + window: nothing is evicted, so every method is full attention.
    lm = ahn.tiny_model(arch, method, window=40, sinks=8)
    if method in AHN_METHODS:
        _perturb_output_projections(lm.model)  # even a trained AHN has nothing to read yet
    assert (_logits(lm.model, _ids(48)) - base_logits[arch]).abs().max().item() <= 1e-4


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("sinks,window", [(0, 16), (4, 16), (8, 5)])
def test_swa_equals_full_attention_under_explicit_mask(arch, sinks, window):
    T = 60
    lm = ahn.tiny_model(arch, "swa", window=window, sinks=sinks)
    ours = _logits(lm.model, _ids(T))
    lm.model.ahn_attached.detach()
    lm.model.config._attn_implementation = "eager"  # the reference: a dense T x T mask, computed naively
    reference = lm.model(_ids(T), attention_mask=_explicit_sink_window_mask(T, sinks, window)).logits
    assert (ours - reference.detach()).abs().max().item() <= 1e-4
    assert (ours - _logits(lm.model, _ids(T))).abs().max().item() > 1e-2  # the window really bites


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", AHN_METHODS)
def test_untrained_ahn_is_exactly_swa_and_perturbed_is_not(arch, method):
    ids = _ids(70)
    swa = _logits(ahn.tiny_model(arch, "swa", window=16, sinks=4).model, ids)
    lm = ahn.tiny_model(arch, method, window=16, sinks=4)
    assert torch.equal(_logits(lm.model, ids), swa)
    _perturb_output_projections(lm.model)
    perturbed = _logits(lm.model, ids)
    assert torch.equal(perturbed[:, :20], swa[:, :20])  # positions < sinks + window read no memory
    assert (perturbed[:, 20:] - swa[:, 20:]).abs().max().item() > 1e-3


def _stream(model, ids, prefill_chunk, prefill_len):
    cache = ahn.new_cache(model)
    outs = []
    with torch.no_grad():
        for start in range(0, prefill_len, prefill_chunk):
            chunk = ids[:, start : min(start + prefill_chunk, prefill_len)]
            outs.append(model(chunk, cache=cache, use_cache=True).logits)
        for t in range(prefill_len, ids.shape[1]):
            outs.append(model(ids[:, t : t + 1], cache=cache, use_cache=True).logits)
    return torch.cat(outs, dim=1), cache


STREAMING_CASES = [("llama", m) for m in ["full", *WINDOWED]] + [
    (arch, m) for arch in ("qwen2", "qwen3") for m in ("swa", "ahn-gdn")
]


@pytest.mark.parametrize("arch,method", STREAMING_CASES)
def test_streaming_equals_parallel_forward(arch, method):
    sinks, window = 4, 12
    T = 3 * (sinks + window)
    sizes = {} if method == "full" else {"window": window, "sinks": sinks}
    lm = ahn.tiny_model(arch, method, **sizes)
    if method in AHN_METHODS:
        _perturb_output_projections(lm.model)
    assert_streaming_equals_parallel(lm.model, _ids(T))


def assert_streaming_equals_parallel(model, ids) -> torch.Tensor:
    """Chunked prefill (chunks of 1, 7 and 33 tokens) then decoding reproduces the parallel forward's
    logits; returns those logits."""
    T = ids.shape[1]
    parallel = _logits(model, ids)
    for prefill_chunk in (1, 7, 33):
        streamed, cache = _stream(model, ids, prefill_chunk, prefill_len=T // 2 + 1)
        assert cache.get_seq_length() == T
        assert (streamed - parallel).abs().max().item() <= 1e-4, f"prefill chunk {prefill_chunk}"
    return parallel


@pytest.mark.parametrize("method", WINDOWED)
def test_cache_bytes_are_constant_beyond_the_window(method):
    sinks, window = 4, 12
    lm = ahn.tiny_model("llama", method, window=window, sinks=sinks)
    sizes = {}
    for T in (sinks + window + 1, 40, 77):
        _, cache = _stream(lm.model, _ids(T, B=1), prefill_chunk=7, prefill_len=T - 3)
        sizes[T] = cache.nbytes()
    assert len(set(sizes.values())) == 1, sizes


@pytest.mark.parametrize("method", ["full", "swa", "ahn-gdn"])
def test_cache_keeps_alive_only_what_it_reports(method):
    sizes = {} if method == "full" else {"window": 12, "sinks": 4}
    lm = ahn.tiny_model("llama", method, **sizes)
    _, cache = _stream(lm.model, _ids(60, B=1), prefill_chunk=50, prefill_len=57)  # big chunk, then decode
    held = [t for layer in cache.layers for t in layer.tensors()]
    storage = sum({t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in held}.values())
    if method == "full":  # room for up to one growth block more, never more
        block = 2 * 2 * 2 * 16 * 4 * GROWTH_TOKENS  # layers x (k, v) x KV heads x head dim x fp32 bytes
        assert cache.nbytes() <= storage < cache.nbytes() + block
    else:  # the ring is full: it holds exactly what it reports
        assert storage == cache.nbytes()


@pytest.mark.parametrize("method", ["full", "swa"])
def test_cache_buffers_are_heads_first_after_growth(method):
    # SDPA reads a slice of the first n slots fastest when each head's n x D keys are one contiguous run.
    sizes = {} if method == "full" else {"window": 12, "sinks": 4}
    lm = ahn.tiny_model("llama", method, **sizes)
    _, cache = _stream(
        lm.model, _ids(GROWTH_TOKENS + 40, B=1), prefill_chunk=100, prefill_len=GROWTH_TOKENS + 30
    )
    for layer in cache.layers:
        for buffer in (layer.keys, layer.values):
            per_head = buffer[:, : layer.seen if method == "full" else 16].transpose(1, 2)  # [B, H, n, D]
            assert per_head[0, 0].is_contiguous() and buffer.stride(2) == buffer.shape[1] * buffer.shape[3]


@pytest.mark.parametrize("queries", [1, 3])
def test_attend_to_all_groups_query_heads_as_sdpa_gqa_does(queries):
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, queries, 6, 8, generator=gen)  # 6 query heads over 2 KV heads: groups of 3
    k, v = torch.randn(2, 11, 2, 8, generator=gen), torch.randn(2, 11, 2, 8, generator=gen)
    expected = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), scale=0.3, enable_gqa=True
    ).transpose(1, 2)
    torch.testing.assert_close(attend_to_all(q, k, v, 0.3), expected)
    # Negative control: had the groups been interleaved (query head h on KV head h % 2), it would differ.
    interleaved = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2),
        k.repeat(1, 1, 3, 1).transpose(1, 2),
        v.repeat(1, 1, 3, 1).transpose(1, 2),
        scale=0.3,
    ).transpose(1, 2)
    assert not torch.allclose(attend_to_all(q, k, v, 0.3), interleaved, atol=1e-3)


def _decode_buffers(cache):
    buffers = [t for layer in cache.layers for t in (layer.keys, layer.values, layer.writes)]
    return [(t.data_ptr(), t.shape) for t in buffers if t is not None]


@pytest.mark.parametrize("method", ["full", "swa", "ahn-gdn", "ahn-mamba2"])
def test_decode_writes_the_window_in_place(method):
    # Every decode step writes one slot per layer into the same buffers, while the ring wraps 4 times.
    sinks, window = 2, 6
    sizes = {} if method == "full" else {"window": window, "sinks": sinks}
    lm = ahn.tiny_model("llama", method, **sizes)
    if method in AHN_METHODS:
        _perturb_output_projections(lm.model)
    ids = _ids(12 + 4 * window, B=1)
    cache = ahn.new_cache(lm.model)
    with torch.no_grad():
        lm.model(ids[:, :12], cache=cache, use_cache=True)
        buffers = _decode_buffers(cache)
        for t in range(12, ids.shape[1]):
            keys_before = [layer.keys.clone() for layer in cache.layers]
            lm.model(ids[:, t : t + 1], cache=cache, use_cache=True)
            assert _decode_buffers(cache) == buffers, f"decode step {t} reallocated a buffer"
            for layer, before in zip(cache.layers, keys_before):
                changed = (layer.keys != before).any(dim=(0, 2, 3)).nonzero().flatten().tolist()
                slot = t if method == "full" else sinks + (t - sinks) % window
                assert changed == [slot], (t, changed)  # one slot written, the one the position maps to


@pytest.mark.parametrize("method", ["swa", "ahn-gdn"])
def test_decode_allocates_nothing_the_size_of_the_window(method):
    # W = 256 tokens of K are 32 KiB per layer here; a decode step's own tensors are far smaller.
    window = 256
    lm = ahn.tiny_model("llama", method, window=window, sinks=4)
    _perturb_output_projections(lm.model) if method != "swa" else None
    ids = _ids(window + 40, B=1)
    cache = ahn.new_cache(lm.model)
    window_bytes = window * 2 * 16 * 4  # W x KV heads x head dim x fp32: one layer's K
    with torch.no_grad():
        lm.model(ids[:, :-2], cache=cache, use_cache=True)
        with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True
        ) as prof:
            lm.model(ids[:, -2:-1], cache=cache, use_cache=True)
    allocations = [e.self_cpu_memory_usage for e in prof.events() if e.self_cpu_memory_usage > 0]
    assert allocations, "the profiler saw no allocation at all"
    assert max(allocations) < window_bytes // 4, sorted(allocations)[-5:]


@pytest.mark.parametrize("method", ["swa", "ahn-gdn", "ahn-mamba2"])
@pytest.mark.parametrize("prefill_len", [9, 40])
def test_streaming_equals_parallel_when_the_ring_wraps_many_times(method, prefill_len):
    sinks, window, T = 2, 5, 64  # the 5-slot ring wraps 11 times, in chunks longer and shorter than W
    lm = ahn.tiny_model("llama", method, window=window, sinks=sinks)
    if method in AHN_METHODS:
        _perturb_output_projections(lm.model)
    ids = _ids(T)
    parallel = _logits(lm.model, ids)
    for prefill_chunk in (3, 7, 33):
        streamed, _ = _stream(lm.model, ids, prefill_chunk, prefill_len)
        assert (streamed - parallel).abs().max().item() <= 1e-4, f"prefill chunk {prefill_chunk}"


def test_full_attention_cache_grows_linearly():
    lm = ahn.tiny_model("llama")
    sizes = [_stream(lm.model, _ids(T, B=1), 8, T)[1].nbytes() for T in (16, 32, 64)]
    per_token = 2 * 2 * 2 * 16 * 4  # layers x (k, v) x KV heads x head dim x fp32 bytes
    assert sizes == [T * per_token for T in (16, 32, 64)]


def test_only_ahn_parameters_receive_gradients_when_base_is_frozen():
    lm = ahn.tiny_model("qwen2", "ahn-gdn", window=8, sinks=2)
    _perturb_output_projections(lm.model)
    ahn_params = set(ahn.ahn_parameters(lm.model).values())
    for p in lm.model.parameters():
        p.requires_grad_(p in ahn_params)
    lm.model(_ids(40), labels=_ids(40)).loss.backward()
    for name, p in lm.model.named_parameters():
        if p in ahn_params:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, name


def test_blocked_window_attention_matches_one_block():
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 50, 4, 8, generator=gen)
    k, v = torch.randn(2, 50, 2, 8, generator=gen), torch.randn(2, 50, 2, 8, generator=gen)
    args = (q, 0, k[:, :3], v[:, :3], k[:, 3:], v[:, 3:], 3, 10, 8**-0.5)
    one_block = sink_window_attention(*args, block=50)
    for block in (1, 7, 16):
        torch.testing.assert_close(sink_window_attention(*args, block=block), one_block)


@pytest.mark.parametrize("method", ["swa", "ahn-gdn"])
def test_hf_generate_matches_our_greedy_loop(method):
    lm = ahn.tiny_model("llama", method, window=8, sinks=2)
    _perturb_output_projections(lm.model) if method != "swa" else None
    prompt = _ids(20, B=1)
    theirs = lm.model.generate(prompt, max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0)
    ours = ahn.generate(lm.model, prompt, max_new_tokens=12, eos_token_id=[], prefill_chunk=6)
    assert torch.equal(theirs[:, 20:], ours)


def test_detach_restores_the_base_model():
    lm = ahn.tiny_model("qwen3", "ahn-gdn", window=8, sinks=2)
    names_attached = {n for n, _ in lm.model.named_parameters()}
    lm.model.ahn_attached.detach()
    base = ahn.tiny_model("qwen3")
    base.model.ahn_attached.detach()
    assert {n for n, _ in lm.model.named_parameters()} == {n for n, _ in base.model.named_parameters()}
    assert names_attached > {n for n, _ in base.model.named_parameters()}
    assert "forward" not in lm.model.model.layers[0].self_attn.__dict__
    torch.testing.assert_close(_logits(lm.model, _ids(30)), _logits(base.model, _ids(30)))


def test_weights_round_trip_and_refuse_another_base(tmp_path):
    lm = ahn.tiny_model("llama", "ahn-gdn", window=8, sinks=2)
    _perturb_output_projections(lm.model)
    path = ahn.save_ahn_weights(lm.model, tmp_path / "w.safetensors")
    fresh = ahn.tiny_model("llama", "ahn-gdn", window=8, sinks=2)
    _perturb_output_projections(fresh.model, seed=2)
    assert not torch.equal(_logits(fresh.model, _ids(40)), _logits(lm.model, _ids(40)))
    ahn.load_ahn_weights(fresh.model, path)
    torch.testing.assert_close(_logits(fresh.model, _ids(40)), _logits(lm.model, _ids(40)), rtol=0, atol=0)

    other_base = ahn.tiny_model("llama", "ahn-gdn", window=8, sinks=2, hidden_size=32, head_dim=8)
    with pytest.raises(UserError, match="another base model"):
        ahn.load_ahn_weights(other_base.model, path)
    with pytest.raises(UserError, match="not 'ahn-dn'"):
        ahn.load_ahn_weights(ahn.tiny_model("llama", "ahn-dn", window=8, sinks=2).model, path)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(UserError, match="corrupt.safetensors"):
        ahn.load_ahn_weights(fresh.model, corrupt)


@pytest.mark.parametrize(
    "method,window,sinks,message",
    [
        ("nope", 8, 0, "unknown method 'nope'"),
        ("swa", 0, 0, "window must be > 0"),
        ("ahn-gdn", -3, 0, "window must be > 0"),
        ("swa", 8, -1, "sinks must be an integer >= 0"),
        ("ahn-gdn", 100_000, 0, "exceeds the model's 4096 position embeddings"),
    ],
)
def test_bad_method_arguments_are_clear_errors(method, window, sinks, message):
    with pytest.raises(UserError, match=message):
        ahn.tiny_model("llama", method, window=window, sinks=sinks)


def test_foreign_cache_and_padding_are_refused():
    from transformers import DynamicCache

    lm = ahn.tiny_model("llama", "swa", window=8, sinks=2)
    with pytest.raises(UserError, match="needs its own cache"):
        lm.model(_ids(5), cache=DynamicCache(), use_cache=True)
    with pytest.raises(UserError, match="padded batches"):
        lm.model(_ids(5), attention_mask=torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]]))


def test_local_hf_directory_loads_and_unsafe_formats_are_refused(tmp_path):
    source = ahn.tiny_model("qwen2")
    source.model.ahn_attached.detach()
    source.model.save_pretrained(tmp_path / "tiny-qwen2")  # safetensors by default
    lm = ahn.load_model(str(tmp_path / "tiny-qwen2"), "swa", window=8, sinks=2, with_tokenizer=False)
    assert lm.model.config.model_type == "qwen2" and lm.spec.window == 8
    torch.testing.assert_close(
        _logits(lm.model, _ids(10)), _logits(source.model, _ids(10)), rtol=0, atol=1e-5
    )  # 10 tokens <= sinks + window: equals the base model
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "config.json").write_text((tmp_path / "tiny-qwen2" / "config.json").read_text())
    (tmp_path / "pickled" / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(UserError, match="no .safetensors weights"):
        ahn.load_model(str(tmp_path / "pickled"), with_tokenizer=False)
    with pytest.raises(UserError, match="unknown model 'no-such-model'"):
        ahn.load_model("no-such-model")


@pytest.mark.slow
def test_default_model_with_covering_window_equals_base_and_answers():
    lm = ahn.load_model("smollm2-135m", "ahn-gdn", window=60, sinks=4, weights=None)
    assert lm.model.config.num_hidden_layers == 30 and lm.ahn_weights == "untrained"
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = lm.tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    assert ids.shape[1] <= 64
    _perturb_output_projections(lm.model, std=0.05)
    ours = _logits(lm.model, ids)
    answer = lm.tokenizer.decode(ahn.generate(lm.model, ids, 12)[0], skip_special_tokens=True)
    assert "Paris" in answer
    lm.model.ahn_attached.detach()
    assert (ours - _logits(lm.model, ids)).abs().max().item() <= 1e-4
