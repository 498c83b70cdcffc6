"""``pt doctor``: findings that match this machine, cached per boot in pt's
private state directory, a mangled or foreign cache probed anew."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from pt.collect import capabilities as C


def doctor(tmp_path, *args, env=None):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), **(env or {})}
    done = subprocess.run([sys.executable, "-m", "pt", "doctor", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done


def cache_file(tmp_path):
    return tmp_path / "state" / "pt" / C.CACHE_NAME


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="probes Linux facilities")
def test_json_findings_match_the_machine_and_are_cached(tmp_path):
    first = json.loads(doctor(tmp_path, "--json").stdout)
    assert first["command"] == "doctor" and first["status"] == "ok"
    caps = first["data"]["capabilities"]
    assert first["data"]["cached"] is False
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert caps["boot_id"] == f.read().strip()
    assert caps["uid"] == os.geteuid() and caps["root"] == (os.geteuid() == 0)
    assert caps["pidfd"] == hasattr(os, "pidfd_open")
    assert caps["psi"] == os.path.exists("/proc/pressure/cpu")
    assert caps["pid_namespace"] == "own"
    assert caps["collector"] == "procfs"
    assert set(caps["cgroup"]["writable"]) <= set(caps["cgroup"]["controllers"])
    names = [f["feature"] for f in first["data"]["features"]]
    assert "exact signals through a pidfd" in names and "throttle (cgroup cpu)" in names

    path = cache_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    second = json.loads(doctor(tmp_path, "--json").stdout)
    assert second["data"]["cached"] is True
    assert second["data"]["capabilities"] == caps
    # The collector in use is never taken from the cache.
    third = json.loads(doctor(tmp_path, "--json", env={"PT_COLLECTOR": "psutil"}).stdout)
    assert third["data"]["cached"] is True and third["data"]["capabilities"]["collector"] == "psutil"
    assert json.loads(doctor(tmp_path, "--json", "--refresh").stdout)["data"]["cached"] is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a boot id")
@pytest.mark.parametrize("content", [
    b"not json", b"[" * 100_000, b'{"format": 2}', b"\xff\xfe", b"",
])
def test_a_mangled_cache_is_probed_anew_and_replaced(tmp_path, content):
    doctor(tmp_path, "--json")
    path = cache_file(tmp_path)
    good = json.loads(path.read_bytes())
    path.write_bytes(content)
    out = json.loads(doctor(tmp_path, "--json").stdout)
    assert out["data"]["cached"] is False
    assert json.loads(path.read_bytes()) == good


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a boot id")
def test_a_cache_from_another_boot_or_with_wrong_types_is_not_used(tmp_path):
    doctor(tmp_path, "--json")
    path = cache_file(tmp_path)
    good = json.loads(path.read_bytes())
    for bad in ({**good, "boot_id": "another-boot"}, {**good, "pidfd": "yes"},
                {**good, "cgroup": {**good["cgroup"], "writable": "cpu"}}, {**good, "extra": 1}):
        path.write_text(json.dumps(bad))
        assert json.loads(doctor(tmp_path, "--json").stdout)["data"]["cached"] is False
        assert json.loads(path.read_bytes()) == good


def test_table_output(tmp_path):
    out = doctor(tmp_path).stdout
    assert "what this machine offers pt" in out and "features" in out and "pidfd" in out


def test_features_follow_the_findings():
    caps = {"collector": "psutil", "collector_error": None, "pid_namespace": None, "pidfd": False,
            "psi": False, "systemd": False,
            "cgroup": {"versions": [1], "mounts": [], "controllers": ["cpu", "memory"],
                       "writable": ["cpu", "memory"], "writable_v2": []}}
    got = {f["feature"]: (f["available"], f["because"]) for f in C.features(caps)}
    assert got["scan"] == (True, "collector psutil")
    assert got["act on processes (plan, apply)"][0] is False
    assert got["throttle (cgroup cpu)"][0] is True
    assert got["memory limit (cgroup v2 memory.high)"] == (False, "memory controller writable only on cgroup v1")
    assert got["quarantine (cgroup cpuset)"] == (False, "no cpuset controller mounted")
