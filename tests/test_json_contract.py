"""One output contract for programs: every ``--json`` result matches the schema
``pt schema COMMAND`` prints, errors and usage errors included."""
import json
import os
import signal
import subprocess
import sys

import pytest

jsonschema = pytest.importorskip("jsonschema")

from pt.testing import _state, acting_env, kill_if_same, run_pt, spawn_detached, wait_for  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux collector")


@pytest.fixture(scope="module")
def schemas(tmp_path_factory):
    """Every command's schema, as ``pt schema`` prints it (checked against the 2020-12 meta-schema)."""
    cwd = tmp_path_factory.mktemp("schema")
    names = run_pt("schema", "--list", cwd=cwd).stdout.split() + ["pt", "schema"]   # + error-only
    out = {name: json.loads(run_pt("schema", name, cwd=cwd).stdout) for name in names}
    out["*"] = json.loads(run_pt("schema", cwd=cwd).stdout)
    for schema in out.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    return out


def checked(schemas, *args, cwd, env=None, code=0) -> dict:
    """Run ``pt ARGS`` (which include --json), check the exit code, and
    validate the one object it printed against its command's schema and the
    schema of any result."""
    proc = run_pt(*args, cwd=cwd, env=env, check=False)
    assert proc.returncode == code, proc.stderr
    result = json.loads(proc.stdout)
    jsonschema.validate(result, schemas[result["command"]], cls=jsonschema.Draft202012Validator)
    jsonschema.validate(result, schemas["*"], cls=jsonschema.Draft202012Validator)
    assert (result["status"] == "error") == (code != 0)
    return result


def test_schemas_describe_every_field_with_its_unit(schemas):
    from pt.fields import FIELDS, VERDICT_FIELDS
    process = schemas["scan"]["$defs"]["process"]["properties"]
    assert set(process) == {f.name for f in FIELDS + VERDICT_FIELDS}
    assert all(p["description"] for p in process.values())
    assert process["rss_bytes"]["x-unit"] == "bytes" and process["elapsed_s"]["x-unit"] == "s"
    assert set(schemas) - {"*"} >= {"scan", "explain", "plan", "apply", "verify", "undo", "history",
                                    "deep-scan", "config", "duck", "lake", "watch"}


def test_scan_explain_and_deep_scan_results_match(schemas, tmp_path):
    pid, start = spawn_detached(tmp_path)
    try:
        full = checked(schemas, "scan", "--json", cwd=tmp_path)
        assert any(p["pid"] == pid for p in full["data"]["processes"])
        assert not any("evidence" in p for p in full["data"]["processes"])        # the ledger on demand
        ledger = checked(schemas, "scan", "--json", "--ledger", "--top", "2", cwd=tmp_path)
        assert all(p["evidence"] and [k for k in p if k != "evidence"] == list(full["data"]["processes"][0])
                   for p in ledger["data"]["processes"])
        checked(schemas, "scan", "--json", "--raw", "--top", "3", cwd=tmp_path)
        compact = checked(schemas, "scan", "--json", "--top", "2", "--fields", "pid,action,why", cwd=tmp_path)
        assert [list(p) for p in compact["data"]["processes"]] == [["pid", "action", "why"]] * 2
        explained = checked(schemas, "explain", str(pid), "--json", cwd=tmp_path)
        assert explained["data"]["process"]["pid"] == pid
        checked(schemas, "deep-scan", "--pid", str(pid), "--max-time", "1", "--json", cwd=tmp_path)
    finally:
        kill_if_same(pid, start)


def test_plan_apply_verify_undo_history_results_match(schemas, tmp_path):
    env = acting_env(tmp_path)
    pid, start = spawn_detached(tmp_path)
    try:
        plan = checked(schemas, "plan", "--pid", str(pid), "--do", "pause", "--json", cwd=tmp_path,
                       env=env)["data"]["plan"]
        applied = checked(schemas, "apply", plan["plan_id"], "--yes", "--json", cwd=tmp_path, env=env)
        assert [o["result"] for o in applied["data"]["outcomes"]] == ["done"], applied
        checked(schemas, "verify", plan["plan_id"], "--json", cwd=tmp_path, env=env)
        checked(schemas, "explain", "--plan", plan["plan_id"], "--json", cwd=tmp_path, env=env)
        checked(schemas, "undo", plan["plan_id"], "--json", cwd=tmp_path, env=env)
        wait_for(lambda: _state(pid) == "S")
        checked(schemas, "history", "--json", cwd=tmp_path, env=env)
        checked(schemas, "duck", "actions", "--json", cwd=tmp_path, env=env)
        checked(schemas, "lake", "info", "--json", cwd=tmp_path, env=env)
        checked(schemas, "config", "show", "--json", cwd=tmp_path, env=env)
        checked(schemas, "config", "validate", "--json", cwd=tmp_path, env=env)
    finally:
        kill_if_same(pid, start)


def test_watch_and_report_results_match(schemas, tmp_path):
    """Every interval of `pt watch --json` is one result (JSON Lines),
    --status without a watcher is an error result, and `pt report --json`
    says what it wrote."""
    env = {**acting_env(tmp_path)}
    proc = run_pt("watch", "--json", "--for", "2", "--interval", "1", "--no-telemetry", "--match",
                  "no-process-has-this-ptcontract", cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert lines
    for result in lines:
        jsonschema.validate(result, schemas["watch"], cls=jsonschema.Draft202012Validator)
        jsonschema.validate(result, schemas["*"], cls=jsonschema.Draft202012Validator)
    checked(schemas, "report", "--html", str(tmp_path / "r.html"), "--top", "3", "--json", cwd=tmp_path, env=env)
    status = checked(schemas, "watch", "--status", "--json", cwd=tmp_path, env=env, code=3)
    assert status["errors"][0]["code"] == "not_running" and status["errors"][0]["hint"]


def test_incidents_result_matches(schemas, tmp_path):
    """`pt incidents --json` with a real incident in it: a calm parent over two spinners."""
    code = "import os, time\nfor _ in range(2):\n    if os.fork() == 0:\n        while True: pass\n" \
           "print('ready', flush=True)\ntime.sleep(600)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        results = []

        def reported():
            results[:] = [checked(schemas, "incidents", "--window", "1", "--json", cwd=tmp_path)]
            return any(i["pid"] == proc.pid for i in results[0]["data"]["incidents"])
        wait_for(reported, timeout=60, interval=0)
        mine = next(i for i in results[0]["data"]["incidents"] if i["pid"] == proc.pid)
        assert mine["kind"] == "runaway_tree" and mine["recommendation"]["action"] == "throttle"
        assert mine["command"].startswith(sys.executable)
        sampler = results[0]["data"]["sampler"]            # the lifecycle sampler followed the table
        assert sampler["ticks"] >= 2 and sampler["lives"] >= results[0]["data"]["processes"]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()


@pytest.mark.parametrize("args, code, kind", [
    (("incidents", "--json", "--window", "0"), 2, "usage"),
    (("scan", "--json", "--top", "many"), 2, "usage"),            # argparse: a bad value
    (("scan", "--json", "--no-such-option"), 2, "usage"),         # argparse: an unknown option
    (("--json", "frobnicate"), 2, "usage"),                       # argparse: no such command
    (("scan", "--json", "--fields", "pid,nope"), 2, "usage"),
    (("scan", "--json", "--raw", "--sort", "attention"), 2, "usage"),
    (("explain", "--json"), 2, "usage"),                          # neither PID nor --plan
    (("apply", "0123456789abcdef", "--yes", "--json"), 3, "plan_not_found"),
    (("schema", "nope"), 2, "unknown_schema"),
])
def test_errors_are_results_in_the_same_envelope(schemas, tmp_path, args, code, kind):
    result = checked(schemas, *args, cwd=tmp_path, code=code)
    (error,) = result["errors"]
    assert error["code"] == kind and error["message"] and error["hint"]
    assert result["data"] == {}


def test_usage_error_without_json_stays_text(tmp_path):
    proc = run_pt("scan", "--top", "many", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "usage: pt scan" in proc.stderr and "--top: wants a whole number" in proc.stderr
    proc = run_pt("scan", "--fields", "pid", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and proc.stdout == "" and "add --json" in proc.stderr
    proc = run_pt("scan", "--ledger", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and proc.stdout == "" and "add --json" in proc.stderr


def test_usage_error_quotes_hostile_text_escaped(tmp_path):
    proc = run_pt("scan", "--json", "--bogus=\x1b[31mred", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "\x1b" not in proc.stderr
    assert json.loads(proc.stdout)["errors"][0]["code"] == "usage"
