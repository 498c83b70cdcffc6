"""``pt scan`` end to end, as a user and an agent run it: a subprocess of ``python -m pt``."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pt.testing import add_proc, make_tree, sleepers, zombie
from pt.testing import run_pt as pt

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux collector")

REQUIRED_KEYS = {"pid", "ppid", "uid", "user", "state", "comm", "cmdline", "start_time",
                 "elapsed_s", "cpu_time_s", "rss_bytes", "vsize_bytes", "threads", "tty",
                 "kernel_thread"}




def scan_json(*args, cwd, env=None):
    out = pt("scan", "--json", *args, cwd=cwd, env=env)
    return json.loads(out.stdout)  # exactly one object: json.loads rejects trailing data


def test_json_envelope_and_fields(tmp_path):
    with sleepers(2) as procs:
        result = scan_json(cwd=tmp_path)
    assert result["pt_result_version"] == "1"
    assert result["command"] == "scan"
    assert result["status"] in ("ok", "partial")
    assert {"boot_id", "boot_time", "clock_ticks", "page_size", "cpu_count"} <= result["host"].keys()
    processes = {p["pid"]: p for p in result["data"]["processes"]}
    for proc in procs:
        row = processes[proc.pid]
        assert REQUIRED_KEYS <= row.keys()
        assert row["ppid"] != 0 and row["comm"] == "sleep" and row["cmdline"][1:] == ["600"]
        assert row["state"] == "S" and row["kernel_thread"] is False
        assert row["user"] and isinstance(row["start_time"], float)
    assert isinstance(result["errors"], list)


def test_json_includes_a_zombie(tmp_path):
    with zombie() as z:
        processes = scan_json(cwd=tmp_path)["data"]["processes"]
    row = next(p for p in processes if p["pid"] == z.pid)
    assert row["state"] == "Z" and row["cmdline"] == []


def test_top_sort_and_reverse(tmp_path):
    rss = [p["rss_bytes"] for p in scan_json("--sort", "rss", cwd=tmp_path)["data"]["processes"]]
    assert rss == sorted(rss, reverse=True)
    pids = [p["pid"] for p in scan_json("--sort", "pid", "--top", "5", cwd=tmp_path)["data"]["processes"]]
    assert len(pids) == 5 and pids == sorted(pids)
    rev = [p["pid"] for p in scan_json("--sort", "pid", "--reverse", cwd=tmp_path)["data"]["processes"]]
    assert rev == sorted(rev, reverse=True)


def test_user_filter_and_kernel_threads(tmp_path):
    me = str(os.getuid())
    mine = scan_json("--user", me, cwd=tmp_path)["data"]["processes"]
    assert mine and all(p["uid"] == os.getuid() for p in mine)
    default = scan_json(cwd=tmp_path)["data"]
    assert not any(p["kernel_thread"] for p in default["processes"])
    summary = default["summary"]    # one scan: kworkers come and go between two
    assert summary["total"] - summary["selected"] == summary["kernel_threads_hidden"]
    everything = scan_json("--kernel-threads", cwd=tmp_path)["data"]
    assert everything["summary"]["kernel_threads_hidden"] == 0
    assert any(p["kernel_thread"] for p in everything["processes"]) == (summary["kernel_threads_hidden"] > 0)


def test_table_shows_spawned_processes(tmp_path):
    with sleepers(1) as procs:
        out = pt("scan", "--top", "0", "--sort", "pid", cwd=tmp_path).stdout
    assert "PID" in out and "COMMAND" in out
    line = next(l for l in out.splitlines() if l.split() and l.split()[0] == str(procs[0].pid))
    assert "sleep 600" in line


def test_tree_nests_children_under_their_parent(tmp_path):
    root = make_tree(tmp_path / "proc")
    add_proc(root, 100, b"parent", ppid=1, cmdline=b"parent-cmd\x00")
    add_proc(root, 200, b"child", ppid=100, cmdline=b"child-cmd\x00", start=60_000)
    add_proc(root, 300, b"grandchild", ppid=200, cmdline=b"grandchild-cmd\x00", start=70_000)
    out = pt("scan", "--tree", cwd=tmp_path, env={"PT_PROCFS_PATH": str(root)}).stdout
    lines = out.splitlines()
    depth = {name: next(l.index(name) for l in lines if name in l)
             for name in ("parent-cmd", "child-cmd", "grandchild-cmd")}
    assert depth["parent-cmd"] < depth["child-cmd"] < depth["grandchild-cmd"]


def test_control_characters_never_reach_the_terminal(tmp_path):
    root = make_tree(tmp_path / "proc")
    add_proc(root, 100, b"evil\x1b[2J", cmdline=b"evil\x1b]0;owned\x07\x00two\nlines\x00")
    out = pt("scan", cwd=tmp_path, env={"PT_PROCFS_PATH": str(root)}).stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "two\\nlines" in out


@pytest.mark.parametrize("args, message", [
    (["--sort", "bogus"], "unknown sort key 'bogus'"),
    (["--top", "-3"], "argument --top: wants a whole number from 0 (all) to 1,000,000,000, got '-3'"),
    (["--top", "many"], "got 'many'"),
    (["--user", "no-such-user-xyz"], "no such user 'no-such-user-xyz'"),
])
def test_bad_arguments_exit_2_naming_the_value(tmp_path, args, message):
    proc = pt("scan", *args, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == ""


def test_unreadable_procfs_exits_1_with_a_clear_error(tmp_path):
    proc = pt("scan", cwd=tmp_path, env={"PT_PROCFS_PATH": str(tmp_path / "missing")}, check=False)
    assert proc.returncode == 1
    assert "missing" in proc.stderr and "Traceback" not in proc.stderr


def test_unreadable_procfs_with_json_prints_an_error_object(tmp_path):
    proc = pt("scan", "--json", cwd=tmp_path, env={"PT_PROCFS_PATH": str(tmp_path / "missing")},
              check=False)
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert result["status"] == "error" and result["command"] == "scan"
    assert result["errors"][0]["code"] == "os_error" and "missing" in result["errors"][0]["message"]


def test_partial_status_when_files_are_malformed(tmp_path):
    root = make_tree(tmp_path / "proc")
    add_proc(root, 100)
    add_proc(root, 101, stat=b"101 (broken")
    result = scan_json(cwd=tmp_path, env={"PT_PROCFS_PATH": str(root)})
    assert result["status"] == "partial"
    assert result["errors"][0]["code"] == "malformed_proc_file"
    assert result["errors"][0]["pids"] == [101]
    assert [p["pid"] for p in result["data"]["processes"]] == [100]


def test_help_teaches_with_examples(tmp_path):
    out = pt("scan", "--help", cwd=tmp_path).stdout
    assert "examples:" in out and "--json" in out
    assert "exit codes" in pt("--help", cwd=tmp_path).stdout


def test_console_script_is_installed(tmp_path):
    script = Path(sys.executable).with_name("pt")
    if not script.exists():
        pytest.skip("pt console script not in this interpreter's bin directory")
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("pt ")


# Idle, with resident memory growing 1 MB every 0.2 s (up to 200 MB): growth across scans to score.
GROWER = """
import time
hold = []
print("ready", flush=True)
while True:
    if len(hold) < 200:
        hold.append(b"x" * (1 << 20))
    time.sleep(0.2)
"""

# 30 children every second, each living 3 s: births at 30/s under one parent, a storm to weigh.
BURST = """
import os, time
print("ready", flush=True)
while True:
    for _ in range(30):
        if os.fork() == 0:
            time.sleep(3.0)
            os._exit(0)
    time.sleep(1.0)
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
"""

# One quick scan; on stderr, which of the growth and storm formulas it ran and the heavy modules it imported.
COUNTED_SCAN = """
import json, sys
import pt.infer.incidents as incidents, pt.infer.memory as memory
calls = {"growth_terms": 0, "gw_probability": 0, "slope_seen": 0}
def counted(name, f):
    def call(*args, **kwargs):
        calls[name] += 1
        return f(*args, **kwargs)
    return call
def slope_counted(f):
    def call(*args, **kwargs):
        out = f(*args, **kwargs)
        calls["slope_seen"] += bool(out[2].any())          # a slope across 3+ remembered scans
        return out
    return call
memory.growth_terms = counted("growth_terms", memory.growth_terms)
memory.scan_slope = slope_counted(memory.scan_slope)
incidents.gw_probability = counted("gw_probability", incidents.gw_probability)
from pt.cli import main
code = main(["scan", "--json"])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"pyarrow", "duckdb", "scipy"})
heavy += ["numpy.ma"] if "numpy.ma" in sys.modules else []
print(json.dumps({"calls": calls, "heavy": heavy}), file=sys.stderr)
sys.exit(code)
"""


# A quick scan; on stderr, the modules first imported after its CPU window closed.
AFTER_WINDOW = """
import json, sys
import pt.collect._linux as linux
marks = {}
finish = linux.WindowStart.finish
def marked(self, *args, **kwargs):
    window = finish(self, *args, **kwargs)
    marks["closed"] = set(sys.modules)
    return window
linux.WindowStart.finish = marked
from pt.cli import main
code = main(["scan", *sys.argv[1:]])
print(json.dumps(sorted(set(sys.modules) - marks["closed"])), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize("options", [[], ["--json"], ["--no-telemetry"]])
def test_a_scan_imports_nothing_after_its_window(tmp_path, options):
    """What the model and the output need is imported while the reads run
    (``render_imports``): an import after the window is wall time the scan
    adds (pt.infer.incidents ~4-9 ms, numpy.char ~2 ms, the JSON writers
    ~3 ms were). Rich's width table loads on the first wide character it
    measures (0.2 ms) and is let through."""
    from pt.testing import isolated_env
    out = subprocess.run([sys.executable, "-c", AFTER_WINDOW, *options], capture_output=True, text=True,
                         cwd=tmp_path, env=isolated_env(tmp_path), timeout=300)
    assert out.returncode == 0, out.stderr
    late = json.loads(out.stderr.strip().splitlines()[-1])
    assert [m for m in late if not m.startswith("rich._unicode_data")] == []


def test_a_scan_never_imports_what_only_writing_or_deep_evidence_needs(tmp_path):
    """The quick scan's process imports neither pyarrow or duckdb (telemetry is
    written by a forked child) nor scipy, each a tenth of a second or more, nor
    numpy.ma (~10 ms, which np.median and np.unique pull in), also when it
    scores what needs special functions: an idle process's memory growth
    across the scans remembered (log Phi, after a median of slopes) and a burst
    of births (the storm's Gamma tail). Scans repeat until one has run both."""
    import contextlib

    from pt.testing import isolated_env, wait_for
    with contextlib.ExitStack() as stack:
        for script in (GROWER, BURST):
            proc = stack.enter_context(subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.DEVNULL,
                                                        stdout=subprocess.PIPE, text=True, start_new_session=True))
            stack.callback(proc.stdout.close)
            stack.callback(proc.wait)
            stack.callback(os.killpg, proc.pid, 9)         # our own session: the burst's children too
            assert proc.stdout.readline().strip() == "ready"
        scans = []

        def both_scored():
            out = subprocess.run([sys.executable, "-c", COUNTED_SCAN], capture_output=True, text=True, cwd=tmp_path,
                                 env=isolated_env(tmp_path), timeout=300)
            assert out.returncode == 0, out.stderr
            assert json.loads(out.stdout)["data"]["processes"]
            scans.append(json.loads(out.stderr.strip().splitlines()[-1]))
            assert scans[-1]["heavy"] == [], scans
            return all(scans[-1]["calls"].values())
        wait_for(both_scored, timeout=240, interval=0.5)
