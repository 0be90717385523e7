"""Helpers of the reliability tests: sibling test modules loaded by path, and how to run ``berg encode``
in a subprocess (the toy plugin slows each batch by ``$BERG_TEST_BATCH_DELAY_S`` seconds and logs
"pid id id ..." lines to ``$BERG_TEST_BATCH_LOG``, so a test can act while a run is under way)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
TOY = "toy-retina-luminance"

@contextlib.contextmanager
def on_each_batch(model: Any, action: Callable[[Any], None]) -> Iterator[None]:
    """Call ``action(stimuli)`` as each batch reaches ``model``'s preprocessing (a fault to inject).

    Core asks only the plugin owning a model about it, so a test plugin beside it would never see
    the batch: the model's class is patched instead (not the instance, whose attributes make up the
    weights identity a resumed run is checked against).
    """
    cls = type(model)
    original = cls.preprocess

    def preprocess(self: Any, stimuli: Any) -> Any:
        action(stimuli)
        return original(self, stimuli)

    cls.preprocess = preprocess
    try:
        yield
    finally:
        cls.preprocess = original


def load_module(path: Path, name: str) -> ModuleType:
    """Import the file ``path`` as module ``name`` (once), without putting its folder on ``sys.path``."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def cli_env(site: Path, **extra: Any) -> dict[str, str]:
    """The environment of a subprocess that sees the plugins installed in ``site``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    env["BERG_STRICT_PLUGINS"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def encode_argv(store: Path, images: Path, out: Path | str, batch_size: int = 2, subject: str = "1") -> list[str]:
    """``berg encode`` of the toy model, as a user types it."""
    return [sys.executable, "-m", "berg_core.cli.main", "encode", TOY, str(images), "-o", str(out), "--subject", subject,
            "--berg-dir", str(store), "--batch-size", str(batch_size), "--device", "cpu", "--no-progress"]


def run_cli(argv: list[str], env: dict[str, str], timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, **kw)


def batch_log(path: Path) -> dict[int, list[str]]:
    """Stimulus ids each process prepared, in order, from the throttling plugin's log."""
    seen: dict[int, list[str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            pid, *ids = line.split()
            seen.setdefault(int(pid), []).extend(ids)
    return seen
