"""``pt`` ends its process without the interpreter's teardown when that is
safe (:func:`pt.__main__.exit_without_teardown`), and exits the usual way
when the teardown has work to do."""
from __future__ import annotations

import json
import subprocess
import sys

from pt.testing import isolated_env

#: Runs pt's console entry point with ARGS; a finalizer says on stderr when the teardown ran.
ENTRY = """
import sys
import pt.__main__ as m
class Teardown:
    def __del__(self):
        sys.stderr.write("torn down\\n")
probe = Teardown()
{setup}
sys.argv = ["pt", *{args!r}]
sys.exit(m.main())
"""


def _run(tmp_path, args, setup=""):
    return subprocess.run([sys.executable, "-c", ENTRY.format(setup=setup, args=list(args))], cwd=tmp_path,
                          env={**isolated_env(tmp_path), "COLUMNS": "120"}, capture_output=True, text=True,
                          timeout=300)


def test_a_scan_ends_without_teardown_and_its_output_is_whole(tmp_path):
    done = _run(tmp_path, ["scan", "--raw", "--json", "--top", "0", "--no-telemetry"])
    assert done.returncode == 0, done.stderr
    assert "torn down" not in done.stderr
    result = json.loads(done.stdout)                 # every byte of a large piped output arrived
    assert result["status"] in ("ok", "partial") and len(result["data"]["processes"]) > 1


def test_the_exit_code_is_kept(tmp_path):
    done = _run(tmp_path, ["scan", "--sort", "nosuch"])
    assert done.returncode == 2
    assert "unknown sort key" in done.stderr and "torn down" not in done.stderr


def test_atexit_callbacks_run_and_the_process_exits_the_usual_way(tmp_path):
    done = _run(tmp_path, ["scan", "--raw", "--top", "1", "--no-telemetry"],
                setup="import atexit; atexit.register(lambda: sys.stderr.write('atexit ran\\n'))")
    assert done.returncode == 0, done.stderr
    assert "atexit ran" in done.stderr and "torn down" in done.stderr
    assert "PID" in done.stdout


def test_a_running_thread_is_waited_for(tmp_path):
    setup = ("import threading, time\n"
             "threading.Thread(target=lambda: (time.sleep(2), sys.stderr.write('thread done\\n'))).start()")
    done = _run(tmp_path, ["scan", "--raw", "--top", "1", "--no-telemetry"], setup=setup)
    assert done.returncode == 0, done.stderr
    assert "thread done" in done.stderr and "torn down" in done.stderr


def test_a_failed_flush_is_left_to_the_usual_exit(tmp_path):
    code = """
import io, sys
import pt.__main__ as m
class Gone(io.StringIO):
    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")
sys.stdout = Gone()
m.exit_without_teardown(0)
sys.stdout = sys.__stdout__
print("returned")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "returned\n"
