"""Screens that fit: pt's views judged on a real terminal (tmux) at 80x24 and 120x40."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pt.testing import _state, acting_env, isolated_env, kill_if_same, run_pt, spawn_detached, wait_for

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")

DONE = "__pt_exited__"


GOLDEN = Path(__file__).parent / "golden"


def matches_golden(name: str, lines: list[str]) -> None:
    """``lines`` (a ``capture-pane -e`` screen, colours included) equal
    tests/golden/NAME; PT_UPDATE_GOLDEN=1 rewrites the file instead."""
    path = GOLDEN / name
    shown = "\n".join(lines) + "\n"
    if os.environ.get("PT_UPDATE_GOLDEN") == "1":
        path.write_text(shown)
    assert shown == path.read_text(), f"{name} differs; if intended, rerun with PT_UPDATE_GOLDEN=1 and review"


def screen(args: list[str], width: int, height: int, cwd, timeout: float = 60.0, env: dict | None = None,
           answer: str | None = None, escapes: bool = False) -> list[str]:
    """What a ``width`` x ``height`` terminal shows once ``pt ARGS`` has
    exited (after typing ``answer`` at its ``[y/N]``): the visible lines
    (a line the terminal wrapped joined again, so a line wider than the
    terminal shows), the last one the marker written after it; with
    ``escapes`` their colours too (``capture-pane -e``)."""
    server = f"pt-test-{uuid.uuid4().hex[:8]}"              # a private tmux server, ended below
    env = {k: v for k, v in (env or isolated_env(cwd)).items() if k not in ("COLUMNS", "LINES")}
    command = " ".join([sys.executable, "-m", "pt", *args]) + f"; printf {DONE}; sleep 600"   # on the prompt line
    tmux = ["tmux", "-L", server, "-f", "/dev/null"]
    subprocess.run([*tmux, "new-session", "-d", "-x", str(width), "-y", str(height), "-c", str(cwd),
                    "sh", "-c", command], check=True, env=env)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = subprocess.run([*tmux, "capture-pane", "-p", "-J"], capture_output=True, text=True).stdout
            if answer is not None and "[y/N]" in shown:
                subprocess.run([*tmux, "send-keys", answer, "Enter"], check=True)
                answer = None
            if DONE in shown:
                if escapes:
                    shown = subprocess.run([*tmux, "capture-pane", "-p", "-J", "-e"], capture_output=True,
                                           text=True).stdout
                return shown.rstrip("\n").split("\n")
            time.sleep(0.2)
        raise AssertionError(f"pt did not finish in {timeout} s: {shown}")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


@pytest.mark.parametrize("width, height", [(80, 24), (120, 40)])
def test_scan_table_keeps_its_header_on_screen(tmp_path, width, height):
    lines = screen(["scan", "--no-telemetry"], width, height, tmp_path)
    titles = [i for i, line in enumerate(lines) if line.startswith("pt scan · ")]
    assert titles, "\n".join(lines)                                  # what the terminal showed instead
    title = titles[0]
    assert lines[title + 1].split()[:2] == ["PID", "USER"]           # the column header
    assert any(line.startswith("recommended") or "shown" in line for line in lines)
    assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]


def test_legend_fits_80_columns(tmp_path):
    lines = screen(["scan", "--legend"], 80, 40, tmp_path, escapes=True)
    assert lines[0].startswith("columns:") and all(len(line) <= 80 for line in lines)
    matches_golden("legend-80x40.txt", lines)


def test_duck_report_fits_80_columns_with_short_hashes(capsys, monkeypatch):
    import datetime

    from pt.ui.duck_view import print_report
    monkeypatch.setenv("COLUMNS", "80")
    digest = "2af3e2e534a9166c0d1e2f3a4b5c6d7e"
    columns = ["run_id", "at_utc", "mode", "n_procs", "priors_digest", "policy_digest", "command",
               "redaction_version", "key_id"]
    row = ("20261204T192251Z-eab2880b", datetime.datetime(2026, 12, 4, 19, 22, 51), "quick", 106, digest, digest,
           "python -m http.server " + "x" * 200, 2, "8686fef89de48 3e2")
    print_report("runs", columns, [row] * 3)
    lines = capsys.readouterr().out.rstrip("\n").split("\n")
    assert all(len(line) <= 80 for line in lines)
    assert lines[1].startswith("20261204T192251Z-eab2880b 2026-12-04 19:22:51 quick 106")
    assert "2af3e2e5 " in lines[1] and digest not in "\n".join(lines)
    assert len(lines) == 1 + 3 + 3                    # header, one line a row, count, two lines naming the rest
    assert "not shown at this width: policy_digest, command, redaction_version, key_id" in " ".join(lines)


def masked(lines: list[str]) -> list[str]:
    """A screen without what changes from run to run: ids, numbers, the
    reasons (which evidence is strongest, wrapped over a varying number of
    lines), the sleeper's path."""
    out, why = [], False
    for line in lines:
        why = "why: " in line or (why and line.strip() != "")
        if not why or "why: " in line:
            out.append(mask(line))
    return out


def mask(line: str) -> str:
    line = re.sub(r"why: .*", "why: …", line)
    line = re.sub(r"[0-9a-f]{16}", "PLAN_ID", line)
    line = re.sub(r"\x1b\[[0-9;]*m", lambda m: m.group(0).replace("0", "\0"), line)   # keep colours
    line = re.sub(r"(?<!\x1b\[)(?<![0-9;\0])\d+(\.\d+)?", "N", line)
    return line.replace("\0", "0").replace(shutil.which("sleep"), "SLEEP")


def test_plan_confirmation_and_outcome_fit_80x24(tmp_path):
    env = acting_env(tmp_path)
    pid, start = spawn_detached(tmp_path)
    try:
        made = run_pt("plan", "--pid", str(pid), "--do", "pause", "--json", cwd=tmp_path, env=env).stdout
        plan_id = json.loads(made)["data"]["plan"]["plan_id"]
        shown = screen(["plan", "--pid", str(pid), "--do", "pause", "--no-telemetry"], 80, 24, tmp_path, env=env)
        assert shown[0].startswith("plan ") and shown[1].startswith(f"#0 pause  pid {pid} (sleep)  age ")
        assert shown[2] == "    how: SIGSTOP (undo: SIGCONT)"
        plan_lines = shown[:shown.index("")]                         # not the path it was saved to
        assert len(plan_lines) <= 5
        wide = [line for line in plan_lines if len(line) > 80 and not line.startswith("    why: ")]
        assert not wide, wide

        matches_golden("confirmation-80x24.txt", masked(screen(["apply", plan_id, "--no-telemetry"], 80, 24,
                                                               tmp_path, env=env, answer="n", escapes=True)))
        shown = screen(["apply", plan_id, "--no-telemetry"], 80, 24, tmp_path, env=env, answer="y")
        assert shown[0] == f"plan {plan_id} · " + shown[0].split(" · ", 1)[1]
        assert shown[1].startswith(f"#0 pause  pid {pid} (sleep)")
        assert any(line.startswith("Apply this action? [y/N] y") for line in shown)
        assert any("done" in line and str(pid) in line for line in shown)       # the outcome
        wide = [line for line in shown if len(line) > 80 and not line.startswith("    why: ")]
        assert not wide, wide
        wait_for(lambda: _state(pid) == "T")
    finally:
        kill_if_same(pid, start)


def test_explain_ledger_drops_the_per_class_columns_at_80(tmp_path):
    pid, start = spawn_detached(tmp_path)
    try:
        narrow = screen(["explain", str(pid)], 80, 60, tmp_path)
        wide = screen(["explain", str(pid)], 120, 60, tmp_path)
    finally:
        kill_if_same(pid, start)
    assert all(len(line) <= 80 for line in narrow) and all(len(line) <= 120 for line in wide)
    header = next(line for line in narrow if "evidence " in line and "observed" in line)
    assert "useful_bad" not in header and "bits" in header
    assert any("useful_bad abandoned zombie" in line for line in wide)
    assert any(re.search(r"│ age +alive \S+ +[+-]\d+\.\d\d ", line) for line in narrow)   # label to bits, one line
