"""Hard vetoes on a fake procfs tree: each rule protects what it names, first rule wins."""
import dataclasses

import numpy as np

from pt.collect import collect
from pt.config import load_policy
from pt.decide.vetoes import protected_by
from pt.features.genealogy import genealogy
from pt.testing import add_proc, make_tree

KTHREAD_FLAGS = 0x00200000


def tree(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 1, b"init", ppid=0, uid=0, cmdline=b"/sbin/init\x00")
    add_proc(root, 2, b"kthreadd", ppid=0, uid=0, cmdline=b"")
    stat = (root / "2" / "stat").read_bytes().replace(b" 4194304 ", f" {KTHREAD_FLAGS} ".encode())
    (root / "2" / "stat").write_bytes(stat)
    add_proc(root, 100, b"bash", ppid=1, sid=100, uid=1000, cmdline=b"-bash\x00")      # login shell
    add_proc(root, 200, b"tmux: client", ppid=100, sid=100, uid=1000, cmdline=b"tmux\x00")
    add_proc(root, 300, b"python", ppid=200, sid=100, uid=1000, cmdline=b"python\x00-m\x00pt\x00")  # "pt"
    add_proc(root, 400, b"node", ppid=1, sid=400, uid=1000, cmdline=b"node\x00dev.js\x00")
    add_proc(root, 500, b"postgres", ppid=1, sid=500, uid=116, cmdline=b"postgres\x00")
    add_proc(root, 600, b"vim", ppid=1, sid=600, uid=1001, cmdline=b"vim\x00")
    add_proc(root, 700, b"sshd", ppid=1, sid=700, uid=1000, cmdline=b"sshd: alice\x00")
    add_proc(root, 800, b"mystery", ppid=1, sid=800, status=b"Name:\tmystery\n", cmdline=b"mystery\x00")
    add_proc(root, 900, b"worker", ppid=1, sid=900, uid=1000, cmdline=b"worker\x00")
    return collect(root)


def reasons(snap, policy=None, system_slice=None, **kw):
    policy = policy or load_policy()
    system_slice = np.zeros(len(snap), bool) if system_slice is None else system_slice
    out = protected_by(snap, genealogy(snap), policy, system_slice, me=300, my_uid=1000, **kw)
    return dict(zip(snap["pid"].tolist(), out.tolist()))


def test_each_rule_protects_what_it_names(tmp_path):
    r = reasons(tree(tmp_path))
    assert r[1] == "pid 1 (init)"
    assert r[2] == "kernel thread"
    assert r[300] == "pt itself"
    assert r[200] == "ancestor of pt"
    assert r[100] == "ancestor of pt"          # also the session leader and a login shell: first rule wins
    assert r[500] == "system service"
    assert r[600] == "another user's process"
    assert r[700].startswith("protected pattern '^sshd'")
    assert r[800] == "owner unknown (status unreadable)"
    assert r[400] is None and r[900] is None


def test_policy_can_allow_other_users_only_for_root(tmp_path):
    snap = tree(tmp_path)
    lenient = dataclasses.replace(load_policy(), allow_other_users=True, allow_system_services=True)
    assert reasons(snap, lenient)[600] == "another user's process"        # pt is not root here
    as_root = protected_by(snap, genealogy(snap), lenient, np.zeros(len(snap), bool), me=300, my_uid=0)
    r = dict(zip(snap["pid"].tolist(), as_root.tolist()))
    assert r[600] is None and r[500] is None


def test_system_slice_marks_a_system_service(tmp_path):
    snap = tree(tmp_path)
    in_slice = snap["pid"] == 900
    assert reasons(snap, system_slice=in_slice)[900] == "system service"


def test_setuid_process_of_ours_is_protected(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 1, b"init", ppid=0, uid=0)
    add_proc(root, 300, b"python", ppid=1, uid=1000)
    add_proc(root, 310, b"sudo", ppid=300, uid=1000, euid=0, cmdline=b"sudo\x00make\x00")
    snap = collect(root)
    r = dict(zip(snap["pid"].tolist(), protected_by(snap, genealogy(snap), load_policy(),
                                                     np.zeros(len(snap), bool), me=300, my_uid=1000).tolist()))
    assert r[310] == "system service"


def test_run_as_root_every_root_process_is_a_system_service(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 1, b"init", ppid=0, uid=0)
    add_proc(root, 300, b"python", ppid=1, uid=0)
    add_proc(root, 400, b"nginx", ppid=1, sid=400, uid=0, cmdline=b"nginx: master process\x00")
    add_proc(root, 500, b"node", ppid=1, sid=500, uid=1000, cmdline=b"node\x00")
    snap = collect(root)
    r = dict(zip(snap["pid"].tolist(), protected_by(snap, genealogy(snap), load_policy(),
                                                     np.zeros(len(snap), bool), me=300, my_uid=0).tolist()))
    assert r[400] == "system service" and r[500] == "another user's process"
    allowed = dataclasses.replace(load_policy(), allow_system_services=True, allow_other_users=True)
    r = dict(zip(snap["pid"].tolist(), protected_by(snap, genealogy(snap), allowed,
                                                     np.zeros(len(snap), bool), me=300, my_uid=0).tolist()))
    assert r[400] is None and r[500] is None
