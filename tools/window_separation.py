"""Does a 0.25 s window tell busy from idle as well as a 0.3 s one?

Spawns spinners and sleepers (this script's own children), then runs pt's
quick scan (``pt.triage.triage``: default policy and priors, no verdict
memory) alternately with each window length, and prints per length:

* the CPU demand of the spinners and of the sleepers, as a share of one CPU
  (ticks used plus ticks spent waiting for a CPU, over the window's ticks),
  and how many fell on the wrong side of half a CPU (the busy line of the
  progress term);
* the CPU-in-window term's log Bayes factor, abandoned against useful;
* how many spawned processes got another verdict (class, action) than at
  the first length in the same round;
* how far stat's CPU ticks are from schedstat's nanosecond run time over
  the same window for the (single-threaded) spinners, in ticks.

    python tools/window_separation.py [--rounds 10] [--spinners 2] [--sleepers 4] [--windows 0.3,0.25]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from pt.collect._procfs import read_schedstat, read_stat_ticks
from pt.config import ACTIONS, CLASSES
from pt.infer.posterior import ABANDONED, FEATURES, USEFUL
from pt.testing import sleepers, wait_for
from pt.triage import triage


def verdicts(window_s: float, pids: np.ndarray) -> dict:
    t = triage(window_s=window_s)
    rows = np.array([int(np.flatnonzero(t.snapshot["pid"] == p)[0]) for p in pids])
    j = FEATURES.index("cpu_window")
    w = t.window
    demand = (w.ticks[rows] + np.maximum(w.wait_ticks[rows], 0)) / w.window_ticks
    bf = t.inference.terms[rows, j, ABANDONED] - t.inference.terms[rows, j, USEFUL]
    klass = t.inference.posterior[rows].argmax(axis=1)
    return {"demand": demand, "bf": bf, "window_ticks": w.window_ticks,
            "verdict": [(CLASSES[c], ACTIONS[a]) for c, a in zip(klass, t.decision.action[rows])]}


def tick_error(window_s: float, pids: np.ndarray, starts: np.ndarray, hz: int) -> np.ndarray:
    """stat ticks minus schedstat run time (in ticks) over one window, per pid."""
    t0, _, _ = read_stat_ticks(b"/proc", pids, starts)
    r0, _ = read_schedstat(b"/proc", pids)
    time.sleep(window_s)
    t1, _, _ = read_stat_ticks(b"/proc", pids, starts)
    r1, _ = read_schedstat(b"/proc", pids)
    return (t1 - t0) - (r1 - r0) * hz / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--spinners", type=int, default=2)
    ap.add_argument("--sleepers", type=int, default=4)
    ap.add_argument("--windows", default="0.3,0.25")
    args = ap.parse_args()
    windows = [float(x) for x in args.windows.split(",")]
    hz = os.sysconf("SC_CLK_TCK")
    spin = [subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
            for _ in range(args.spinners)]
    try:
        with sleepers(args.sleepers) as idle:
            spin_pids = np.array([p.pid for p in spin], np.int32)
            idle_pids = np.array([p.pid for p in idle], np.int32)
            starts = np.array([int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[19])
                               for p in spin_pids], np.uint64)
            wait_for(lambda: (read_stat_ticks(b"/proc", spin_pids, starts)[0] > 0).all())
            pids = np.concatenate([spin_pids, idle_pids])
            n_spin = len(spin_pids)
            got = {w: {"spin": [], "idle": [], "bf_spin": [], "bf_idle": [], "wrong": 0, "flips": 0,
                       "ticks": set(), "err": [], "verdicts": {}} for w in windows}
            for _ in range(args.rounds):
                first = None
                for w in windows:
                    v = verdicts(w, pids)
                    g = got[w]
                    g["ticks"].add(v["window_ticks"])
                    g["spin"] += v["demand"][:n_spin].tolist()
                    g["idle"] += v["demand"][n_spin:].tolist()
                    g["bf_spin"] += v["bf"][:n_spin].tolist()
                    g["bf_idle"] += v["bf"][n_spin:].tolist()
                    g["wrong"] += int((v["demand"][:n_spin] < 0.5).sum() + (v["demand"][n_spin:] >= 0.5).sum())
                    for who, verdict in zip(["spinner"] * n_spin + ["sleeper"] * len(idle_pids), v["verdict"]):
                        key = (who, *verdict)
                        g["verdicts"][key] = g["verdicts"].get(key, 0) + 1
                    if first is None:
                        first = v["verdict"]
                    else:
                        g["flips"] += sum(a != b for a, b in zip(first, v["verdict"]))
                    g["err"] += tick_error(w, spin_pids, starts, hz).tolist()
    finally:
        for p in spin:
            p.kill()
            p.wait()
    print(f"load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds, {args.spinners} spinners, "
          f"{args.sleepers} sleepers")
    for w in windows:
        g = got[w]
        print(f"window {w:g} s ({'/'.join(map(str, sorted(g['ticks'])))} ticks):"
              f" spinner demand min {min(g['spin']):.2f} median {statistics.median(g['spin']):.2f};"
              f" sleeper demand max {max(g['idle']):.2f}; wrong side of 0.5: {g['wrong']}")
        print(f"  CPU-window log BF abandoned:useful spinners median {statistics.median(g['bf_spin']):+.2f}"
              f" (max {max(g['bf_spin']):+.2f}), sleepers median {statistics.median(g['bf_idle']):+.2f}"
              f" (min {min(g['bf_idle']):+.2f})")
        print(f"  verdicts {dict(sorted(g['verdicts'].items()))}; differing from {windows[0]:g} s: {g['flips']}")
        err = np.abs(g["err"])
        print(f"  |stat ticks - schedstat run time| over the window: median {np.median(err):.2f}, "
              f"max {err.max():.2f} ticks")


if __name__ == "__main__":
    main()
