"""Make the plain `lm_eval` command know `--model ahn-bench`.

lm-eval 0.4.13 finds models only in its own table (lm_eval/models/__init__.py MODEL_MAPPING); it reads no
plugin entry points. So a one-line `ahn_bench_lm_eval.pth` in site-packages loads THIS file by path at
interpreter start (not the ahn_bench package: a worktree's `python -m ahn_bench` must still import its own
copy), and `install()` puts a finder first on sys.meta_path that waits for `lm_eval.api.registry` to be
imported, then registers `ahn-bench` there as a lazy "module:Class" placeholder. Nothing else is imported
until lm-eval asks for the model. Standard library only; any failure leaves lm-eval untouched.

  python -m ahn_bench.lm_eval_hook            # write the .pth into this interpreter's site-packages
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import sysconfig
from pathlib import Path

REGISTRY_MODULE = "lm_eval.api.registry"
MODEL_NAME = "ahn-bench"
MODEL_TARGET = "ahn_bench.lm_eval_model:AHNBenchLM"
PTH_NAME = "ahn_bench_lm_eval.pth"


class _RegisterWhenLmEvalLoads:
    """A meta-path finder that only watches for lm-eval's registry module, and steps aside after it."""

    def find_spec(self, name, path=None, target=None):
        if name != REGISTRY_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            try:
                # lm-eval fills its own table only while the registry is empty (registry.get_model): fill
                # it first, or every built-in model would vanish behind ours.
                importlib.import_module("lm_eval.models")
                if MODEL_NAME not in module.model_registry:
                    module.model_registry.register(MODEL_NAME, target=MODEL_TARGET)
            except Exception:  # an lm-eval without this registry API: leave it as it is
                pass

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    if not any(isinstance(f, _RegisterWhenLmEvalLoads) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterWhenLmEvalLoads())


def pth_line(hook_file: Path) -> str:
    """The .pth line: load this file by path and install the finder; silent if the file is gone."""
    return (
        "import os, importlib.util as u; p = " + repr(str(hook_file)) + "; "
        "s = os.path.exists(p) and u.spec_from_file_location('ahn_bench_lm_eval_hook', p); "
        "m = s and u.module_from_spec(s); s and s.loader.exec_module(m); m and m.install()\n"
    )


def write_pth(site_dir: str | None = None) -> Path:
    target = Path(site_dir or sysconfig.get_paths()["purelib"]) / PTH_NAME
    target.write_text(pth_line(Path(__file__).resolve()))
    return target


if __name__ == "__main__":
    print(f"{write_pth()}: `lm_eval --model {MODEL_NAME}` now resolves to {MODEL_TARGET}")
