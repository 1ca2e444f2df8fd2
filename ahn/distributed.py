"""Processes started by a launcher (`accelerate launch`, `torchrun`, `mpirun`): who am I, and a group to
wait on. Eval shards samples by rank; distill all-reduces AHN gradients over the group.

Launchers export the rank and the number of processes under different names: torchrun (and accelerate's
multi-process launcher, which is torchrun) RANK / WORLD_SIZE, Open MPI OMPI_COMM_WORLD_*, Intel MPI and
MPICH PMI_*, MVAPICH MV2_COMM_WORLD_* (accelerate's own state reads the same four, in this order).
"""

from __future__ import annotations

import contextlib
import os

from ahn.errors import UserError

RANK_VARS = ("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK")
WORLD_VARS = ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")


def _first_int(names: tuple[str, ...], default: int) -> int:
    for name in names:
        if os.environ.get(name, "") != "":
            try:
                return int(os.environ[name])
            except ValueError:
                raise UserError(
                    f"environment variable {name}={os.environ[name]!r} is not an integer"
                ) from None
    return default


def launched_rank_world() -> tuple[int, int]:
    """(rank, number of processes) from the launcher's environment; (0, 1) when not launched."""
    world = _first_int(WORLD_VARS, 1)
    rank = _first_int(RANK_VARS, 0)
    if world < 1 or not 0 <= rank < world:
        raise UserError(f"launcher environment gives rank {rank} of {world} processes")
    if world == 1:
        _refuse_single_process_cpu_launch()
    return rank, world


def _refuse_single_process_cpu_launch() -> None:
    """`accelerate launch --cpu --num_processes N` without an MPI hostfile starts ONE process (it only sets
    MASTER_ADDR/PORT for the N it was asked for): refuse rather than run unsharded while the user believes
    N processes share the work."""
    if os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("true", "1") and os.environ.get("MASTER_ADDR"):
        raise UserError(
            "accelerate launch --cpu started one process, not --num_processes of them (its CPU launcher "
            "needs --mpirun_hostfile); use `accelerate launch --multi_gpu --num_processes N` (torchrun, "
            "gloo on CPU) or torchrun --nproc_per_node N"
        )


def is_main_process() -> bool:
    """Rank 0, or not launched: the process that prints, writes shared files and merges."""
    return _first_int(RANK_VARS, 0) == 0


@contextlib.contextmanager
def process_group(backend: str = "gloo"):
    """Join the launched processes' group for the block (no-op for one process). gloo runs on CPU and
    between nodes; it carries only small messages here (barriers, gradient all-reduce on CPU)."""
    import torch.distributed as dist

    rank, world = launched_rank_world()
    created = world > 1 and not dist.is_initialized()
    if created:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")  # mpirun exports no rendezvous address
        os.environ.setdefault("MASTER_PORT", "29500")
        dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        yield rank, world
    finally:
        if created:
            dist.destroy_process_group()


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
