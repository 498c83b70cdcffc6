"""pt mcp: a real MCP client session over stdio (the SDK's stdio_client and
ClientSession) against ``python -m pt mcp``, acting only on the test's own
sleepers, and apply only with a code a person approved at a (pseudo) terminal."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import anyio
import pytest

from pt.testing import _state, acting_env, plan_for, pt_at_terminal, run_pt, sleepers, wait_for

mcp = pytest.importorskip("mcp", reason="the MCP SDK is in the test extra: pip install '.[test]'")


@pytest.fixture
def env(tmp_path):
    return acting_env(tmp_path)


def session(env: dict, cwd):
    """An initialized ClientSession with ``python -m pt mcp`` (async context manager)."""
    from contextlib import asynccontextmanager

    from mcp import ClientSession, StdioServerParameters, stdio_client

    @asynccontextmanager
    async def connected():
        params = StdioServerParameters(command=sys.executable, args=["-m", "pt", "mcp"], env=env, cwd=str(cwd))
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            yield s
    return connected()


async def call(s, name: str, **arguments) -> tuple[bool, dict | str]:
    """``(is_error, the result object, or the error text when it is not JSON)``."""
    result = await s.call_tool(name, arguments)
    body = "".join(c.text for c in result.content if c.type == "text")
    try:
        return result.is_error, json.loads(body)
    except ValueError:
        return result.is_error, body


def test_tools_scan_explain_and_malformed_requests(tmp_path, env):
    with sleepers(1, argv0="pt-mcp-target") as (proc,), sleepers(1, argv0="a" * 30 + "!") as (hostile,):
        async def main():
            async with session(env, tmp_path) as s:
                tools = {t.name: t for t in (await s.list_tools()).tools}
                assert set(tools) == {"scan", "explain", "plan", "deep_scan", "history", "why", "apply", "undo"}
                assert tools["scan"].annotations.read_only_hint and tools["apply"].annotations.destructive_hint
                assert set(tools["apply"].input_schema["required"]) == {"plan_id", "code"}

                failed, scan = await call(s, "scan", top=5)
                assert not failed and scan["command"] == "scan" and scan["status"] in ("ok", "partial")
                assert len(scan["data"]["processes"]) == 5 and "posterior" in scan["data"]["processes"][0]
                assert "evidence" not in scan["data"]["processes"][0]                 # the ledger on demand
                failed, full = await call(s, "scan", top=1, ledger=True)
                assert not failed and full["data"]["processes"][0]["evidence"]
                failed, mine = await call(s, "scan", match="pt-mcp-target", top=0)
                assert not failed and [p["pid"] for p in mine["data"]["processes"]] == [proc.pid]
                # A regex that backtracks for hours on a hostile command line gives up on it (the
                # server runs tools on its main thread, where the CPU bound's signal arrives).
                failed, slow = await call(s, "scan", match="^(a+)+$", top=0)
                assert not failed and "gave up on 1 command line" in " ".join(slow["notes"])
                assert hostile.pid not in [p["pid"] for p in slow["data"]["processes"]]
                failed, useful = await call(s, "scan", classes=["zombie"], top=0)
                assert not failed and all(p["class"] == "zombie" for p in useful["data"]["processes"])

                failed, explained = await call(s, "explain", pid=proc.pid)
                assert not failed and explained["data"]["process"]["pid"] == proc.pid
                assert explained["data"]["process"]["command"] == "pt-mcp-target 600"

                # Malformed requests: each a tool error, the server still serving.
                failed, err = await call(s, "explain", pid="not a pid")
                assert failed and err["errors"][0]["code"] == "bad_request" and "pid" in err["errors"][0]["message"]
                failed, err = await call(s, "explain", pid=-5)
                assert failed and err["status"] == "error" and "positive" in err["errors"][0]["message"]
                failed, err = await call(s, "scan", user=["no-such-user-pt-mcp"])
                assert failed and err["status"] == "error" and "no-such-user-pt-mcp" in err["errors"][0]["message"]
                failed, err = await call(s, "scan", match="(unclosed")
                assert failed and err["errors"][0]["code"] == "usage"
                failed, err = await call(s, "plan", user=["--json"])      # a value is never an option
                assert failed and err["status"] == "error"
                failed, err = await call(s, "deep_scan", max_time=3600)
                assert failed and err["errors"][0]["code"] == "bad_request" and "max_time" in err["errors"][0]["message"]
                failed, err = await call(s, "no_such_tool")
                assert failed and err["status"] == "error" and "no_such_tool" in err["errors"][0]["message"]
                failed, err = await call(s, "apply", plan_id="0123456789abcdef")          # no code
                assert failed and err["errors"][0]["code"] == "bad_request"
                failed, err = await call(s, "why", target="not-a-target")
                assert failed and err["command"] == "duck"
                failed, again = await call(s, "explain", pid=proc.pid)
                assert not failed
        anyio.run(main)


def test_apply_needs_a_code_a_person_approved_at_a_terminal(tmp_path, env):
    with sleepers(1, argv0="pt-mcp-target") as (proc,):
        async def main():
            async with session(env, tmp_path) as s:
                failed, planned = await call(s, "plan", pid=[proc.pid], do="pause")
                assert not failed
                plan = planned["data"]["plan"]
                plan_id = plan["plan_id"]
                assert [a["action"] for a in plan["actions"]] == ["pause"]
                assert plan_id in planned["data"]["text"] and "pause" in planned["data"]["text"]
                assert planned["data"]["approve_with"] == f"pt apply --approve {plan_id}"

                failed, err = await call(s, "apply", plan_id=plan_id, code="")
                assert failed and err["errors"][0]["code"] == "not_approved"
                assert f"pt apply --approve {plan_id}" in err["errors"][0]["message"]
                failed, err = await call(s, "apply", plan_id="../../etc/passwd", code="X")
                assert failed and err["errors"][0]["code"] == "not_approved"
                assert _state(proc.pid) == "S"

                # An agent without a terminal cannot approve its own plan.
                refused = run_pt("apply", "--approve", plan_id, "--json", cwd=tmp_path, env=env, check=False)
                assert refused.returncode == 4 and json.loads(refused.stdout)["errors"][0]["code"] == "not_at_terminal"

                status, shown = pt_at_terminal(["apply", "--approve", plan_id], env, b"n\n", tmp_path)
                assert status == 4 and "Not approved" in shown and "Approval code" not in shown
                assert f"pid {proc.pid} (sleep)" in shown              # the person sees the live target

                # A wrong code uses the approval up; the code itself is never stored.
                code = approve(plan_id, env, tmp_path)
                stored = b"".join(p.read_bytes() for p in (tmp_path / "state/pt/approvals").glob("*.json"))
                assert plan_id.encode() in stored and code.replace("-", "").encode() not in stored
                failed, err = await call(s, "apply", plan_id=plan_id, code="WRONG-CODE0")
                assert failed and "wrong approval code" in err["errors"][0]["message"]
                failed, err = await call(s, "apply", plan_id=plan_id, code=code)
                assert failed and err["errors"][0]["code"] == "not_approved"
                assert _state(proc.pid) == "S"

                code = approve(plan_id, env, tmp_path)
                failed, applied = await call(s, "apply", plan_id=plan_id, code=code.lower())
                assert not failed and [o["result"] for o in applied["data"]["outcomes"]] == ["done"]
                wait_for(lambda: _state(proc.pid) == "T")
                failed, err = await call(s, "apply", plan_id=plan_id, code=code)      # one use
                assert failed and err["errors"][0]["code"] == "not_approved"

                failed, undone = await call(s, "undo", plan_id=plan_id)
                assert not failed and [o["result"] for o in undone["data"]["outcomes"]] == ["done"]
                wait_for(lambda: _state(proc.pid) == "S")

                failed, hist = await call(s, "history")
                assert not failed and hist["data"]["plans"][0]["plan_id"] == plan_id
                failed, why = await call(s, "why", target=str(proc.pid))
                assert not failed and why["data"]["why"]
                failed, deep = await call(s, "deep_scan", pid=[proc.pid], max_time=1)
                assert not failed and deep["command"] == "deep-scan"
        anyio.run(main)


def approve(plan: str, env: dict, cwd) -> str:
    """``pt apply --approve PLAN`` (an id or a file) at a pseudo-terminal,
    answered yes: the code it prints."""
    code, shown = pt_at_terminal(["apply", "--approve", plan], env, b"y\n", cwd)
    assert code == 0, shown
    found = re.search(r"Approval code for plan [0-9a-f]{16}:\s+([A-Z0-9]{5}-[A-Z0-9]{5})", shown)
    assert found, shown
    return found.group(1)


def test_a_plan_file_approved_at_the_terminal_is_applied_by_id(tmp_path, env):
    """An agent's plan written as a file (not by the plan tool): once a person
    approves the file, the agent's apply finds it by id."""
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "pause")
        path = tmp_path / "agent-plan.json"
        path.write_text(json.dumps(plan))

        async def main():
            async with session(env, tmp_path) as s:
                failed, err = await call(s, "apply", plan_id=plan["plan_id"], code="ABCDE-FGHJK")
                assert failed and err["errors"][0]["code"] == "not_approved"
                code = approve(str(path), env, tmp_path)
                failed, applied = await call(s, "apply", plan_id=plan["plan_id"], code=code)
                assert not failed and [o["result"] for o in applied["data"]["outcomes"]] == ["done"]
                wait_for(lambda: _state(proc.pid) == "T")
                failed, undone = await call(s, "undo", plan_id=plan["plan_id"])
                assert not failed and [o["result"] for o in undone["data"]["outcomes"]] == ["done"]
                wait_for(lambda: _state(proc.pid) == "S")
        anyio.run(main)


def test_pt_mcp_without_the_sdk_says_how_to_install_it(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.modules['mcp'] = None\n"
                           "from pt.cli import main; sys.exit(main(['mcp']))"],
                          capture_output=True, text=True, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1 and "pip install 'pt[mcp]'" in proc.stderr and proc.stdout == ""
