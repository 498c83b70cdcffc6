"""The one reader of the host files (boot id, uptime): hostile trees and the live /proc."""
import sys
from pathlib import Path

import pytest

from pt.act import identity, journal
from pt.collect import host
from pt.collect._linux import collect
from pt.testing import add_proc, make_tree

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="procfs")

BOOT_ID = "sys/kernel/random/boot_id"


def test_boot_id_of_a_tree(tmp_path):
    root = make_tree(tmp_path)
    assert host.boot_id(root) == "11111111-2222-3333-4444-555555555555"
    (root / BOOT_ID).unlink()
    assert host.boot_id(root) is None


@pytest.mark.parametrize("content", [
    b"", b"\n", b"not-a-uuid\n", b"11111111-2222-3333-4444-55555555555\n",      # one digit short
    b"11111111-2222-3333-4444-555555555555-extra\n", b"11111111-2222-3333-4444-55555555555G\n",
    b"[bold red]11111111-2222-3333-4444-555555555555[/]\n", b"\x1b[2J11111111-2222-3333-4444-555555555555\n",
    b"11111111-2222-3333-4444-555555555555\x00\n", b"\xff\xfe" * 40, b"1" * 100_000,
])
def test_a_hostile_boot_id_is_unknown_and_the_scan_goes_on(tmp_path, content):
    root = make_tree(tmp_path)
    add_proc(root, 4242)
    (root / BOOT_ID).write_bytes(content)
    assert host.boot_id(root) is None
    snap = collect(root)
    assert snap.host.boot_id is None
    assert 4242 in snap["pid"].tolist()


@pytest.mark.parametrize("content", [b"", b"abc 1\n", b"-5 1\n", b"nan 1\n", b"1e300 1\n", b"\x1b[2J 1\n"])
def test_a_hostile_uptime_is_an_error_naming_the_file(tmp_path, content):
    root = make_tree(tmp_path)
    (root / "uptime").write_bytes(content)
    with pytest.raises(OSError, match="uptime"):
        host.uptime(root)


def test_every_stage_reads_the_live_boot_id_through_the_reader():
    live = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert host.boot_id(host.LIVE) == live
    assert identity.boot_id() == live
    assert collect(host.LIVE).host.boot_id == live


def test_journal_clock_is_the_live_uptime_in_ticks():
    import os
    hz = os.sysconf("SC_CLK_TCK")
    before = int(float(Path("/proc/uptime").read_text().split()[0]) * hz)
    now = journal.uptime_ticks()
    after = int(float(Path("/proc/uptime").read_text().split()[0]) * hz)
    assert before <= now <= after
