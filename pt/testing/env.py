"""Running pt the way a person does, isolated from the machine's own state:
a private HOME, state and lake per test, pt as a subprocess (or at a
pseudo-terminal), a policy that may act, plans for the test's own
processes, and a regular user to run as."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pt.testing.children import _comm, _state


def isolated_env(base: Path) -> dict:
    """The environment for a pt subprocess whose telemetry lake, key and
    state (remembered verdicts) live under ``base`` (never the user's):
    ``os.environ`` without ``PT_LAKE`` and ``PT_TELEMETRY_KEY``, with
    ``XDG_DATA_HOME`` and ``XDG_STATE_HOME`` set to ``base/.local/share``
    and ``base/.local/state``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PT_LAKE", "PT_TELEMETRY_KEY")}
    env["XDG_DATA_HOME"] = str(Path(base) / ".local" / "share")
    env["XDG_STATE_HOME"] = str(Path(base) / ".local" / "state")
    return env



def run_pt(*args: str, cwd: Path, env: dict | None = None, check: bool = True):
    """Run ``python -m pt ARGS`` as a user would, in ``cwd`` (never the source
    tree), with a wide terminal; asserts exit 0 when ``check``. Telemetry goes
    to a lake under ``cwd`` (see :func:`isolated_env`), never the user's."""
    proc = subprocess.run([sys.executable, "-m", "pt", *args], capture_output=True, text=True,
                          cwd=cwd, env={**isolated_env(cwd), "COLUMNS": "200", **(env or {})})
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc



def pt_at_terminal(args: list[str], env: dict, answer: bytes | None, cwd: Path) -> tuple[int, str]:
    """Run ``python -m pt ARGS`` on a pseudo-terminal 200 columns wide (in
    ``cwd``, with ``env``), answer its ``[y/N]`` question with ``answer`` (None:
    expect no question, e.g. a refusal) and return ``(exit code, everything it
    wrote)`` (the terminal's ``\\r\\n`` as ``\\n``)."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.environ.update(env, COLUMNS="200")
        os.execv(sys.executable, [sys.executable, "-m", "pt", *args])

    def read() -> bytes:
        try:
            return os.read(fd, 65536)
        except OSError:                      # the child closed the terminal: it exited
            return b""

    output = b""
    while answer is not None and b"[y/N]" not in output:
        chunk = read()
        if not chunk:
            _, status = os.waitpid(pid, 0)
            raise AssertionError(f"pt exited ({status}) without asking: {output.decode(errors='replace')}")
        output += chunk
    if answer is not None:
        os.write(fd, answer)
    while chunk := read():
        output += chunk
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace").replace("\r\n", "\n")



def acting_policy(**actions):
    """The default policy with these ``actions`` settings, ready to act on the
    test's own fresh children: no minimum age, short grace, and (run as root,
    as CI is) system services allowed like :func:`developer_policy`."""
    import dataclasses

    from pt.config import load_policy
    policy = load_policy()
    settings = {"min_age_s": 0.0, "kill_grace_s": 1.0, **actions}
    policy = dataclasses.replace(policy, actions=dataclasses.replace(policy.actions, **settings))
    return dataclasses.replace(policy, allow_system_services=True) if os.geteuid() == 0 else policy



def acting_env(base: Path) -> dict:
    """The environment of a ``pt`` subprocess that acts on the test's own
    fresh children: :func:`isolated_env` (state in ``base/state``) plus a
    private config whose policy is :func:`acting_policy`'s (no minimum age,
    1 s grace; system services allowed when root, in case the test runner
    itself is a service)."""
    (base / "config/pt").mkdir(parents=True, exist_ok=True)
    policy = {"version": 1, "actions": {"min_age_s": 0, "kill_grace_s": 1}}
    if os.geteuid() == 0:
        policy["guards"] = {"allow_system_services": True}
    (base / "config/pt/policy.json").write_text(json.dumps(policy))
    return {**isolated_env(base), "XDG_CONFIG_HOME": str(base / "config"), "XDG_STATE_HOME": str(base / "state")}



def plan_for(pids, action: str, params: dict | None = None, *, created_at: float | None = None,
             ttl_s: float = 900.0, policy=None) -> dict:
    """A valid plan acting on ``pids`` (the test's own processes), as an agent
    or a hand edit would write one: identities read now, id from content."""
    from pt.act.guards import write_baseline
    from pt.act.identity import read_identity
    from pt.act.plan import PLAN_VERSION, action_params, host_info, plan_id
    from pt.collect.host import read_host

    host = read_host(Path("/proc"))
    now = time.time() if created_at is None else created_at
    entries = []
    for pid in pids:
        identity = read_identity(pid)
        assert identity is not None, f"pid {pid} is gone"
        start = host.boot_time + identity.start_ticks / host.clock_ticks
        entries.append({
            "index": len(entries), "target": identity.as_dict(),
            "comm": _comm(pid).decode("utf-8", "backslashreplace"),
            "command": " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(
                "utf-8", "backslashreplace").split("\0")).strip(),
            "category": "unknown", "state": _state(pid), "ppid": 0, "start_time": start,
            "age_s": now - start, **write_baseline(pid),
            "action": action, "requested": True,
            "params": params if params is not None else action_params(action, "unknown",
                                                                      policy or acting_policy()),
            "posterior": {"useful": 0.1, "useful_bad": 0.0, "abandoned": 0.9, "zombie": 0.0},
            "expected_loss": {}, "why": "test", "ledger": [],
        })
    body = {"pt_plan_version": PLAN_VERSION, "created_at": now, "expires_at": now + ttl_s,
            "host": host_info(host.hostname, host.boot_id), "policy_digest": "",
            "priors_digest": "", "selection": {}, "at_s": 0.0, "do": action, "actions": entries,
            "refused": []}
    return {"plan_id": plan_id(body), **body}



def regular_user() -> tuple[int, int] | None:
    """``(uid, gid)`` of the user whose work a decision test triages: this
    process's own. Decision tests run under the default policy as whoever
    runs pytest; CI runs them as root and again as a regular user
    (``.ci/user-suite``), so both are covered without a test switching users."""
    return os.getuid(), os.getgid()



def user_python() -> str | None:
    """A Python interpreter the regular user of :func:`regular_user` can run:
    this one if every directory above it is searchable by others, else the
    system's ``/usr/bin/python3``; None if neither is."""
    for exe in (sys.executable, "/usr/bin/python3"):
        path = Path(exe).resolve()
        if path.is_file() and all(os.stat(p).st_mode & 0o001 for p in path.parents) \
                and os.stat(path).st_mode & 0o001:
            return str(path)
    return None



@contextlib.contextmanager
def user_workspace():
    """A fresh directory in the system's temp dir that the regular user of
    :func:`regular_user` owns (its HOME, state and config in
    :func:`as_regular_user`); removed at the end."""
    import tempfile
    path = Path(tempfile.mkdtemp(prefix="pt-user-"))
    try:
        os.chmod(path, 0o755)
        if os.geteuid() == 0:
            os.chown(path, *regular_user())
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)



def as_regular_user(fn, workspace: Path):
    """``fn()`` with ``HOME``, ``XDG_CONFIG_HOME``, ``XDG_STATE_HOME`` and
    ``XDG_DATA_HOME`` under ``workspace``, so the shipped default policy
    applies and nothing of the user's is read or written."""
    env = {"HOME": str(workspace), "XDG_CONFIG_HOME": str(workspace / "config"),
           "XDG_STATE_HOME": str(workspace / "state"), "XDG_DATA_HOME": str(workspace / "share")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return fn()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
