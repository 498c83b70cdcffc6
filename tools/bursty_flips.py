"""Flip count of a detached bursty worker over consecutive quick scans (issue 11, fault 2)."""
import json, os, subprocess, sys, tempfile, time
from pathlib import Path
from pt.testing import isolated_env, kill_if_same, start_ticks

BURSTY = """
import sys, time
log = open(sys.argv[1], "a")
while True:
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        pass
    log.write("."); log.flush()
    time.sleep(2.7)
"""
scans = int(sys.argv[1]) if len(sys.argv) > 1 else 10
gap = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    marker = f"bursty-{os.getpid()}"
    out = subprocess.run(["setsid", "sh", "-c", f"{sys.executable} -c '{BURSTY}' {tmp}/{marker}.log >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL, cwd=tmp)
    pid = int(out.stdout); st = start_ticks(pid)
    env = isolated_env(tmp)
    env["XDG_CONFIG_HOME"] = str(tmp / "config")
    if os.environ.get("BASELINE"):          # earlier scans not used as evidence: the window alone
        (tmp / "config" / "pt").mkdir(parents=True)
        (tmp / "config" / "pt" / "policy.json").write_text('{"stability": {"history_gap_s": 0}}')
    try:
        time.sleep(70)  # past the lifetime-CPU minimum age
        actions = []
        for _ in range(scans):
            r = subprocess.run([sys.executable, "-m", "pt", "scan", "--json", "--no-telemetry", "--fields", "pid,class,action"],
                               capture_output=True, text=True, env=env)
            doc = json.loads(r.stdout)
            if "processes" not in doc.get("data", {}):
                sys.exit(r.stdout[:500] + r.stderr[:500])
            rows = [p for p in doc["data"]["processes"] if p["pid"] == pid]
            actions.append(f"{rows[0]['action']}" if rows else "?")
            time.sleep(gap)
        flips = sum(a != b for a, b in zip(actions, actions[1:]))
        print("baseline" if os.environ.get("BASELINE") else "history", " ".join(actions),
              f"flips {flips}/{len(actions) - 1}", flush=True)
    finally:
        kill_if_same(pid, st)
