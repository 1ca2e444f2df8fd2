"""Launched runs without launching: the rank/world a launcher exports, and the bad inputs of a sharded eval
(more processes than samples, a shard of another config) as one-line errors. The launched runs themselves
(accelerate, 2 processes, gloo) are compared with one process by scripts/check_multiprocess.py in CI."""

import pytest

import ahn
import ahn_bench.cli as ahn_cli
from ahn.distributed import launched_rank_world
from ahn.errors import UserError
from benchmarks.accuracy import runner
from benchmarks.accuracy.samples import FIXTURES_DIR

LAUNCH_VARS = ["RANK", "WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE",
               "MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "ACCELERATE_USE_CPU", "MASTER_ADDR"]  # fmt: skip


@pytest.fixture
def clean_env(monkeypatch):
    for name in LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
def tok():
    return ahn.load_tokenizer()


def loader(tok):
    def load(method):
        windowed = method != "full"
        return ahn.tiny_model("llama", method=method, window=16 if windowed else None,
                              sinks=4 if windowed else None, vocab_size=len(tok))  # fmt: skip

    return load


def config(out, **overrides):
    base = dict(benchmark="infinitebench", data=str(FIXTURES_DIR / "infinitebench"), out=str(out),
                tasks=["passkey"], methods=["full"], max_new_tokens=2, window=16, sinks=4)  # fmt: skip
    return runner.EvalConfig(**{**base, **overrides})


def test_launcher_variables(clean_env):
    assert launched_rank_world() == (0, 1)
    clean_env.setenv("OMPI_COMM_WORLD_RANK", "1")  # mpirun (accelerate's multi-CPU launcher)
    clean_env.setenv("OMPI_COMM_WORLD_SIZE", "2")
    assert launched_rank_world() == (1, 2)
    clean_env.setenv("RANK", "0")  # torchrun's names come first, as in accelerate's own state
    clean_env.setenv("WORLD_SIZE", "4")
    assert launched_rank_world() == (0, 4)


def test_accelerate_cpu_launch_of_one_process_is_refused(clean_env):
    # What `accelerate launch --cpu --num_processes 2` exports to the one process it starts.
    clean_env.setenv("ACCELERATE_USE_CPU", "True")
    clean_env.setenv("MASTER_ADDR", "127.0.0.1")
    with pytest.raises(UserError, match="started one process, not --num_processes"):
        launched_rank_world()


def test_more_processes_than_samples_is_a_one_line_error(clean_env, tmp_path, capsys):
    n_samples = len(runner.build_samples(config(tmp_path / "x"), ahn.load_tokenizer()))
    data = str(FIXTURES_DIR / "infinitebench")
    code = ahn_cli.main(["eval", "--benchmark", "infinitebench", "--data", data, "--tasks", "passkey",
                         "--methods", "full", "--shard", f"0/{n_samples + 1}", "--out", str(tmp_path / "run"),
                         "--json"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert f"{n_samples + 1} processes (shards) for {n_samples} samples" in err[0]
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_shard_of_another_config_is_refused(tok, tmp_path):
    out = tmp_path / "run"
    runner.run_eval(config(out), shard=(0, 2), tokenizer=tok, load_model=loader(tok), progress=False)
    with pytest.raises(
        UserError, match="cannot add a shard to this run with a different config.*max_new_tokens"
    ):
        runner.run_eval(config(out, max_new_tokens=3), shard=(1, 2), tokenizer=tok, load_model=loader(tok))
    assert not (out / "rows.rank1.jsonl").exists()


def test_a_merge_refuses_rows_of_another_config(tok, tmp_path):
    # The other order: shard 1 of config B runs before shard 0 of config A writes the run's manifest.
    out = tmp_path / "run"
    runner.run_eval(config(out, max_new_tokens=3), shard=(1, 2), tokenizer=tok, load_model=loader(tok),
                    progress=False)  # fmt: skip
    runner.run_eval(config(out), shard=(0, 2), tokenizer=tok, load_model=loader(tok), progress=False)
    with pytest.raises(UserError, match=r"rows\.rank1\.jsonl: rows of run .*a shard ran with another config"):
        runner.finalize(out)
