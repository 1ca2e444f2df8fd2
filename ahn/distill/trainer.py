"""Self-distillation trainer for AHN (AHN paper section 2.4 and 3.1; specs/ahn.md section 2).

Teacher and student are ONE model object: the teacher pass switches the attached method's spec to `full`
(no window, nothing evicted: exactly the base model with full attention) and runs under no_grad; the
student pass uses a sampled sinks + window spec, so AHN writes the evicted tokens. Only AHN parameters
train. Loss: KL(p_teacher || p_student) at temperature 1, averaged over the positions t >= sinks + window,
the first position whose query reads the memory (before it the student equals the teacher exactly).

Data parallel: under `accelerate launch` / `torchrun` (WORLD_SIZE > 1) every process takes its own rows,
the AHN gradients are all-reduced (averaged) before the step, and rank 0 writes logs and checkpoints.
All ranks draw the same window per step (same generator and seed).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F

from ahn.attach import ahn_parameters, decoder_layers
from ahn.distill.data import TRAIN_CORPORA, pack, row_order
from ahn.distributed import launched_rank_world
from ahn.errors import UserError
from ahn.methods import METHODS, MethodSpec

CHECKPOINT_FORMAT = "ahn-bench/distill-checkpoint/v1"
# Paper (specs/ahn.md section 2): total exact memory c from {32..8192} with L/8 < c < L; sinks from this
# set, kept only when s <= c/2 of the sampled total c, the window then being c - s (official
# src/ahn/transformer/qwen2_ahn/qwen2_ahn.py, sample_num_attn_sinks under ahn_position == "random").
MEMORY_SIZES = tuple(2**i for i in range(5, 14))
SINK_CHOICES = (0, 32, 64, 128, 512, 2048, 4096)


@dataclass
class DistillConfig:
    model: str = "smollm2-135m"
    method: str = "ahn-gdn"
    steps: int = 100
    seq_len: int = 2048
    out: str = "runs/distill"
    data: list[str] = field(default_factory=lambda: list(TRAIN_CORPORA))
    batch_size: int = 1  # rows per micro-batch per process
    grad_accum: int = 1
    lr: float = 1e-4
    warmup: float = 0.1  # fraction of steps with linear warm-up, then cosine decay to 0
    weight_decay: float = 0.1  # on matrices only (nanoGPT convention); gates/norms/decays are not decayed
    grad_clip: float = 1.0
    dtype: str = "auto"  # base model dtype ("auto": bfloat16 where supported); AHN parameters stay fp32
    seed: int = 0
    memory_sizes: list[int] = field(default_factory=lambda: list(MEMORY_SIZES))
    sink_choices: list[int] = field(default_factory=lambda: list(SINK_CHOICES))
    save_every: int = 10
    init_weights: str | None = None  # AHN safetensors to start from (fine-tuning); None: the fresh init

    def __post_init__(self):
        if self.method not in METHODS or not METHODS[self.method].trainable:
            known = [m for m, v in METHODS.items() if v.memory]
            raise UserError(f"distill trains an AHN method ({', '.join(known)}), not {self.method!r}")
        for name in ("steps", "seq_len", "batch_size", "grad_accum", "save_every"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.dtype == "auto":
            self.dtype = default_dtype()
        if self.dtype not in ("float32", "bfloat16"):
            raise UserError(f"dtype must be auto, float32 or bfloat16, got {self.dtype!r}")
        if not 0 <= self.warmup < 1:
            raise UserError(f"warmup is a fraction of the steps in [0, 1), got {self.warmup}")
        if not self.data:
            raise UserError("no training data given")
        if not window_choices(self.seq_len, self.memory_sizes, self.sink_choices):
            raise UserError(
                f"no exact-memory size c with {self.seq_len}/8 < c < {self.seq_len} in {self.memory_sizes}"
            )

    @classmethod
    def from_dict(cls, d: dict) -> DistillConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def default_dtype() -> str:
    """bfloat16 where the hardware computes it natively (CUDA with bf16, CPUs with AVX512-BF16/AMX, as
    oneDNN reports), else float32: emulated bf16 matmuls are slower than fp32 ones."""
    if torch.cuda.is_available():
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    return "bfloat16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "float32"


def window_choices(seq_len: int, memory_sizes, sink_choices) -> list[tuple[int, int]]:
    """Every (window, sinks) the sampler can draw: c = sinks + window with L/8 < c < L, sinks <= c/2."""
    return [(c - s, s) for c in memory_sizes if seq_len / 8 < c < seq_len for s in sink_choices if 2 * s <= c]


def sample_spec(gen: torch.Generator, cfg: DistillConfig) -> MethodSpec:
    """Draw c uniformly from the allowed sizes, then sinks uniformly from those that fit (paper's order)."""
    sizes = sorted({w + s for w, s in window_choices(cfg.seq_len, cfg.memory_sizes, cfg.sink_choices)})
    c = sizes[int(torch.randint(len(sizes), (1,), generator=gen))]
    sinks = [s for s in cfg.sink_choices if 2 * s <= c]
    s = sinks[int(torch.randint(len(sinks), (1,), generator=gen))]
    return MethodSpec(cfg.method, c - s, s)


# --- switching the attached method's window without re-creating the AHN modules ----------------------
def set_spec(model, spec: MethodSpec) -> MethodSpec:
    """Replace the spec on every attention layer and on the attach handle; returns the previous one.
    `full` is allowed on an AHN model: nothing is evicted, the memory is never read (the teacher)."""
    handle = getattr(model, "ahn_attached", None)
    if handle is None:
        raise UserError("no method attached to this model")
    previous = handle.spec
    for layer in decoder_layers(model):
        layer.self_attn.ahn_spec = spec
    handle.spec = spec
    return previous


@contextlib.contextmanager
def use_spec(model, spec: MethodSpec):
    previous = set_spec(model, spec)
    try:
        yield model
    finally:
        set_spec(model, previous)


# --- the loss ---------------------------------------------------------------------------------------
def loss_start(spec: MethodSpec) -> int:
    """First position whose query reads the memory: t = sinks + window evicts token `sinks`."""
    return spec.sinks + spec.window


def loss_mask(seq_len: int, spec: MethodSpec) -> torch.Tensor:
    return torch.arange(seq_len) >= loss_start(spec)


def kl_per_position(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """KL(p_teacher || p_student) at T = 1 per position: [B, T, V] x2 -> [B, T] fp32."""
    t = F.log_softmax(teacher_logits.float(), dim=-1)
    s = F.log_softmax(student_logits.float(), dim=-1)
    return (t.exp() * (t - s)).sum(-1)


def distill_loss(model, input_ids: torch.Tensor, spec: MethodSpec) -> torch.Tensor:
    """Mean KL over positions >= loss_start(spec); logits are computed only there (logits_to_keep)."""
    keep = input_ids.shape[1] - loss_start(spec)
    if keep < 1:
        raise UserError(f"sequence of {input_ids.shape[1]} tokens is not longer than sinks + window")
    with use_spec(model, MethodSpec("full")), torch.no_grad():
        teacher = model(input_ids, logits_to_keep=keep).logits
    with use_spec(model, spec):
        student = model(input_ids, logits_to_keep=keep).logits
    return kl_per_position(teacher, student).mean()


# --- optimiser and schedule ---------------------------------------------------------------------------
def make_optimizer(params: dict[str, torch.nn.Parameter], cfg: DistillConfig) -> torch.optim.AdamW:
    decay = [p for p in params.values() if p.dim() >= 2]
    no_decay = [p for p in params.values() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))


def lr_factor(step: int, cfg: DistillConfig) -> float:
    """Linear warm-up over the first warmup*steps steps, then cosine decay to 0 (paper: 10% warm-up)."""
    warm = max(1, round(cfg.warmup * cfg.steps)) if cfg.warmup > 0 else 0
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, cfg.steps - warm)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


# --- the run ----------------------------------------------------------------------------------------
@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @classmethod
    def from_env(cls) -> Dist:
        rank, world = launched_rank_world()  # torchrun / accelerate launch / mpirun variables
        if torch.cuda.is_available():
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        else:
            device = torch.device("cpu")
        if world > 1 and not torch.distributed.is_initialized():
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")  # mpirun exports no rendezvous address
            os.environ.setdefault("MASTER_PORT", "29500")
            backend = "nccl" if device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend, rank=rank, world_size=world)
        return cls(rank, world, device)


def rows_for(micro: int, rows: torch.Tensor, cfg: DistillConfig, dist: Dist) -> torch.Tensor:
    """The rows of global micro-batch `micro` for this process: a pure function of the counter."""
    n, idx = rows.shape[0], []
    for b in range(cfg.batch_size):
        slot = (micro * dist.world + dist.rank) * cfg.batch_size + b
        idx.append(int(row_order(n, cfg.seed, slot // n)[slot % n]))
    return rows[idx]


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def checkpoint_path(out: str | os.PathLike) -> Path:
    return Path(out) / "checkpoint.pt"


def read_checkpoint(out: str | os.PathLike) -> dict:
    path = checkpoint_path(out)
    if not path.exists():
        raise UserError(f"{path}: no checkpoint to resume from")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain data only: no code
    except Exception as e:
        raise UserError(f"{path}: cannot read checkpoint ({e})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path}: not an ahn-bench distill checkpoint")
    return ckpt


def check_resume(cfg: DistillConfig, ckpt: dict) -> None:
    """A checkpoint resumes only the run it came from: same model, method and data layout."""
    saved = ckpt["config"]
    for name in ("method", "model", "seq_len", "batch_size", "grad_accum", "seed", "steps"):
        if saved.get(name) != getattr(cfg, name):
            raise UserError(
                f"{checkpoint_path(cfg.out)}: checkpoint is for {name}={saved.get(name)!r}, "
                f"this run has {name}={getattr(cfg, name)!r}"
            )


def train(cfg: DistillConfig, lm=None, rows: torch.Tensor | None = None, resume: bool = False,
          stop_after: int | None = None, progress: bool = True) -> dict:  # fmt: skip
    """Run (or resume) `cfg`. `lm`/`rows` may be given (tests); else the model and data are loaded.
    `stop_after` ends this invocation after that many optimiser steps in total (simulates a kill)."""
    from ahn.models import load_model, load_tokenizer
    from ahn.weights import load_weights, save_ahn_weights

    dist = Dist.from_env()
    out = Path(cfg.out)
    ckpt = None
    if resume:
        ckpt = read_checkpoint(out)
        check_resume(cfg, ckpt)
    if lm is None:  # check what is cheap to check (positions, data) before loading the model
        max_pos = _max_positions(cfg.model)
        if max_pos and cfg.seq_len > max_pos:
            raise UserError(f"seq-len {cfg.seq_len} exceeds {cfg.model}'s {max_pos} positions")
    if rows is None:
        rows = pack(cfg.data, load_tokenizer(cfg.model), cfg.seq_len)
    if lm is None:
        lm = load_model(cfg.model, cfg.method, dtype=cfg.dtype, weights=None, with_tokenizer=False)
    model = lm.model
    if cfg.init_weights is not None and ckpt is None:  # fine-tuning; a resume takes them from its checkpoint
        load_weights(model, cfg.init_weights)
    max_pos = getattr(model.config, "max_position_embeddings", None)
    if max_pos and cfg.seq_len > max_pos:
        raise UserError(f"seq-len {cfg.seq_len} exceeds the model's {max_pos} positions")
    if rows.shape[1] != cfg.seq_len:
        raise UserError(f"rows have {rows.shape[1]} tokens, seq-len is {cfg.seq_len}")
    model.to(dist.device)
    for p in model.parameters():
        p.requires_grad_(False)
    params = ahn_parameters(model)
    for p in params.values():
        p.requires_grad_(True)
    opt = make_optimizer(params, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
    gen = torch.Generator().manual_seed(cfg.seed)
    step = 0
    if ckpt is not None:
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(ckpt["ahn"][name])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        gen.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        step = ckpt["step"]

    is_main = dist.rank == 0
    log_path = out / "train_log.jsonl"
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
        _truncate_log(log_path, step)  # lines past the checkpoint belong to the interrupted attempt

    def save_checkpoint():
        if is_main:
            _atomic_save({
                "format": CHECKPOINT_FORMAT, "config": asdict(cfg), "step": step,
                "ahn": {n: p.detach().cpu().clone() for n, p in params.items()},
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
            }, checkpoint_path(out))  # fmt: skip

    tokens_per_step = cfg.batch_size * cfg.grad_accum * dist.world * cfg.seq_len
    last = stop_after if stop_after is not None else cfg.steps
    bar = None
    if progress and is_main:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc=f"distill {cfg.method}", dynamic_ncols=True)
    model.train()
    t_run = time.perf_counter()
    first_step = step
    while step < min(last, cfg.steps):
        t0 = time.perf_counter()
        spec = sample_spec(gen, cfg)
        opt.zero_grad(set_to_none=True)
        loss_sum = 0.0
        for a in range(cfg.grad_accum):
            batch = rows_for(step * cfg.grad_accum + a, rows, cfg, dist).to(dist.device)
            loss = distill_loss(model, batch, spec) / cfg.grad_accum
            loss.backward()
            loss_sum += loss.item()
        if dist.world > 1:
            for p in params.values():
                torch.distributed.all_reduce(p.grad, op=torch.distributed.ReduceOp.AVG)
            reduced = torch.tensor([loss_sum], device=dist.device)
            torch.distributed.all_reduce(reduced, op=torch.distributed.ReduceOp.AVG)
            loss_sum = reduced.item()
        grad_norm = torch.nn.utils.clip_grad_norm_(list(params.values()), cfg.grad_clip).item()
        lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        step += 1
        dt = time.perf_counter() - t0
        if is_main:
            row = {"step": step, "loss": round(loss_sum, 6), "lr": lr, "grad_norm": round(grad_norm, 6),
                   "window": spec.window, "sinks": spec.sinks, "tokens": step * tokens_per_step,
                   "tokens_per_s": round(tokens_per_step / dt, 2), "step_s": round(dt, 3),
                   "elapsed_s": round(time.perf_counter() - t_run, 1)}  # fmt: skip
            with open(log_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            if bar is not None:
                bar.set_postfix(loss=f"{loss_sum:.4f}", W=spec.window, S=spec.sinks,
                                tok_s=f"{tokens_per_step / dt:.0f}")  # fmt: skip
                bar.update(1)
        if step % cfg.save_every == 0 or step == cfg.steps or step == last:
            save_checkpoint()
    if bar is not None:
        bar.close()
    model.eval()
    result = {"out": str(out), "steps_done": step, "steps": cfg.steps, "steps_this_run": step - first_step,
              "run_s": round(time.perf_counter() - t_run, 1)}  # fmt: skip
    if step >= cfg.steps and is_main:
        set_spec(model, MethodSpec.build(cfg.method))  # default sizes in the file's metadata
        weights = save_ahn_weights(model, out / "ahn.safetensors", {
            "distill_config": asdict(cfg), "steps": step, "tokens": step * tokens_per_step,
        })  # fmt: skip
        result["weights"] = str(weights)
    return result


def _truncate_log(path: Path, step: int) -> None:
    if not path.exists():
        return
    keep = [
        line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step
    ]
    path.write_text("".join(line + "\n" for line in keep))


def _max_positions(model_name: str) -> int | None:
    from ahn.models import resolve_model_dir

    try:
        config = json.loads((resolve_model_dir(model_name) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return config.get("max_position_embeddings")


def export_weights(out: str | os.PathLike) -> dict:
    """Write `<out>/ahn.safetensors` from the last checkpoint: the weights of a run that was stopped early
    (its metadata says how many of the planned steps were done)."""
    from ahn.models import load_model
    from ahn.weights import save_ahn_weights

    ckpt = read_checkpoint(out)
    cfg = DistillConfig.from_dict(ckpt["config"])
    lm = load_model(cfg.model, cfg.method, weights=None, with_tokenizer=False)
    params = ahn_parameters(lm.model)
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(ckpt["ahn"][name])
    tokens = ckpt["step"] * cfg.batch_size * cfg.grad_accum * cfg.seq_len  # x processes, if any
    path = save_ahn_weights(lm.model, Path(out) / "ahn.safetensors", {
        "distill_config": asdict(cfg), "steps": ckpt["step"], "tokens": tokens,
        "stopped_early": ckpt["step"] < cfg.steps,
    })  # fmt: skip
    return {"weights": str(path), "steps_done": ckpt["step"], "steps": cfg.steps}
