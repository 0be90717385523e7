"""Helpers of the reliability tests: sibling test modules loaded by path, a batch-throttling
plugin for subprocesses, and how to run ``berg encode`` in a subprocess."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
TOY = "toy-retina-luminance"

#: A plugin for subprocess runs: it slows every batch down (so a test can act while a run is
#: under way) and logs which stimuli each process prepared. It answers no hook itself.
THROTTLE_SOURCE = '''
"""Slows each batch by $BERG_TEST_BATCH_DELAY_S seconds; logs "pid id id ..." lines to $BERG_TEST_BATCH_LOG."""
import os
import time

from berg_core import hookimpl


@hookimpl(tryfirst=True)
def berg_preprocess(model, stimuli):
    log = os.environ.get("BERG_TEST_BATCH_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(" ".join([str(os.getpid()), *map(str, stimuli.ids)]) + "\\n")
    time.sleep(float(os.environ.get("BERG_TEST_BATCH_DELAY_S") or 0))
    return None
'''


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


def write_throttle_plugin(site: Path) -> None:
    """Install the throttling plugin in ``site`` (a package plus its dist-info with a berg.plugins entry point)."""
    (site / "berg_throttle").mkdir()
    (site / "berg_throttle" / "__init__.py").write_text("")
    (site / "berg_throttle" / "plugin.py").write_text(THROTTLE_SOURCE)
    dist = site / "berg_throttle-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: berg-throttle\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[berg.plugins]\nthrottle = berg_throttle.plugin\n")


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
