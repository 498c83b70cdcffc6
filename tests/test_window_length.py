"""The quick scan's 0.25 s window tells busy from idle as the 0.3 s one did:
a real spinner wants at least half a CPU and a real sleeper none in both,
and each gets the same verdict (default policy and priors, no verdict
memory), in the same run."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from pt.config import load_policy
from pt.testing import cpu_ticks, sleepers, spinner, wait_for
from pt.triage import triage

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs"),
              pytest.mark.usefixtures("private_homes")]      # the shipped policy and priors, not a user's


def _seen(window_s: float, pids: list[int]):
    t = triage(window_s=window_s)
    rows = [int(np.flatnonzero(t.snapshot["pid"] == pid)[0]) for pid in pids]
    w = t.window
    demand = (w.ticks[rows] + np.maximum(w.wait_ticks[rows], 0)) / w.window_ticks
    verdicts = [(int(t.inference.posterior[r].argmax()), int(t.decision.action[r])) for r in rows]
    return w, rows, demand, verdicts


def test_default_window_is_a_quarter_second():
    assert load_policy().window_s == 0.25


def test_quarter_second_window_separates_a_spinner_from_a_sleeper_as_0_3_s_does():
    with spinner() as busy, sleepers(1) as (idle,):
        wait_for(lambda: cpu_ticks(busy.pid) > 0)
        pids = [busy.pid, idle.pid]
        seen = {w: _seen(w, pids) for w in (0.25, 0.3)}
        for window, rows, demand, _ in seen.values():
            assert window.alive[rows].all()
            assert demand[0] >= 0.5, demand          # the spinner: busy (used or waited for a CPU)
            assert window.ticks[rows[1]] == 0        # the sleeper: not one tick
        assert seen[0.25][3] == seen[0.3][3]
