"""pt's own process asks for one BLAS thread before numpy is imported."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")

THREADS = "import os; print(len(os.listdir('/proc/self/task')))"


def _threads(code: str, tmp_path) -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                          "MKL_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_one_thread_after_numpy_import(tmp_path):
    assert _threads("import pt.__main__ as m; m.pin_blas_threads(); import numpy; " + THREADS, tmp_path) == 1


def test_the_command_line_does_not_import_numpy_before_pinning(tmp_path):
    code = "import sys, pt.cli; print(int('numpy' in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "0", done.stderr


def test_console_script_pins():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "pt"]
    assert script.value == "pt.__main__:main"
