"""The documented benchmark commands run: timed (``--benchmark-only``,
``--benchmark-enable``) and CI's smoke run (``--benchmark-disable``).

Each runs one cheap benchmark pair of ``bench/`` under the repository's own
pytest configuration, in a subprocess started outside the source tree (so the
installed pt is the one imported).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CASE = "bench/test_bench_kernels.py::test_scalar_call"


@pytest.mark.parametrize("flag", ["--benchmark-only", "--benchmark-enable", "--benchmark-disable"])
def test_documented_bench_command_runs(flag, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO),
         "-p", "no:cacheprovider", "-q", str(REPO / CASE), "-k", "betaln", flag],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 passed" in done.stdout
    if flag != "--benchmark-disable":
        # The timed runs end with the ratio summary of bench/conftest.py.
        assert "pt ratios" in done.stdout
