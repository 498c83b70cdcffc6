"""Red-team findings on what landed last session, each a regression test:
fixed ones pass, open ones are ``xfail(strict=True)`` naming the fix.

Lakes and state live under ``tmp_path``; no process is signalled.
"""
import json
import os
import subprocess
import sys

import pytest

from pt import safefs
from pt.learn import store
from pt.telemetry import history
from pt.telemetry import lake as lakes
from pt.testing import isolated_env

pytestmark = pytest.mark.usefixtures("private_homes")

#: A scan that has not finished by then hangs (it takes seconds even on a loaded machine).
HANG_S = 120


def _scan_json(tmp_path, env: dict | None = None) -> dict:
    """``pt scan --json`` in ``tmp_path`` (state and lake under it), failing, not hanging, if it blocks."""
    proc = subprocess.run([sys.executable, "-m", "pt", "scan", "--json", "--top", "3", "--window", "0.05"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=HANG_S,
                          env={**isolated_env(tmp_path), "COLUMNS": "200", **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_fifo_for_the_learned_priors_withholds_kills_instead_of_hanging_every_scan(tmp_path):
    """Every scan reads the learned priors for the kill gate; the file was
    opened blocking, so a FIFO there (mkfifo, a restore gone wrong) hung
    every ``pt scan`` forever. Now it is a file pt cannot use: kills withheld."""
    learned = tmp_path / "learned" / "learned-priors.json"
    learned.parent.mkdir(mode=0o700)
    os.mkfifo(learned, 0o600)
    out = _scan_json(tmp_path, {store.LEARNED_ENV: str(learned)})
    withheld = out["data"]["summary"]["kill_withheld"]["why"]
    assert "not a regular file" in withheld and str(learned) in withheld


def test_a_fifo_for_the_follow_up_watch_list_does_not_hang_the_scan(tmp_path):
    """The telemetry writer reads ``<lake>/_followup/pending.arrow``; a FIFO
    there blocked the forked writer, and the scan waiting for its result, forever."""
    _scan_json(tmp_path)                                  # makes the lake
    lake = tmp_path / ".local" / "share" / "pt" / "lake"
    (lake / "_followup").mkdir(mode=0o700, exist_ok=True)
    pending = lake / "_followup" / "pending.arrow"
    pending.unlink(missing_ok=True)
    os.mkfifo(pending, 0o600)
    out = _scan_json(tmp_path)
    assert out["data"]["processes"]


def test_safefs_reads_only_regular_files_of_bounded_size(tmp_path):
    d = tmp_path / "d"
    with safefs.private_dir(d) as directory:
        os.mkfifo(d / "fifo", 0o600)
        with pytest.raises(OSError, match="not a regular file"):
            directory.read_bytes("fifo")
        directory.replace("big", b"x" * 11)
        assert directory.read_bytes("big", limit=11) == b"x" * 11
        with pytest.raises(OSError, match="larger than 10 bytes"):
            directory.read_bytes("big", limit=10)
