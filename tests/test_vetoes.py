"""Hard vetoes on a fake procfs tree: each rule protects what it names, first rule wins."""
import dataclasses

import numpy as np

from pt.collect import collect
from pt.config import load_policy
from pt.decide.vetoes import protected_by
from pt.features.categories import load_rules
from pt.features.genealogy import genealogy
from pt.collect.procfs import cgroup_path
from pt.features.services import user_work, workspace
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


def _as_root(snap, tmp_path, *, cgroups=None, environ=None, policy=None, me=300):
    out = protected_by(snap, genealogy(snap), policy or load_policy(), np.zeros(len(snap), bool),
                       me=me, my_uid=0, cgroups=cgroups, environ=environ or {}, fs_root=str(tmp_path))
    return dict(zip(snap["pid"].tolist(), out.tolist()))


def root_tree(tmp_path, init=b"systemd"):
    """A host seen by root: init, pt under a root shell, services, leftovers, a user's process."""
    root = make_tree(tmp_path / "proc")
    add_proc(root, 1, init, ppid=0, uid=0, sid=1, tty_nr=0, start=1, cmdline=b"/sbin/" + init + b"\x00")
    add_proc(root, 100, b"bash", ppid=1, sid=100, uid=0, cmdline=b"bash\x00")            # root's shell
    add_proc(root, 300, b"python", ppid=100, sid=100, uid=0, cmdline=b"python\x00-m\x00pt\x00")
    add_proc(root, 400, b"nginx", ppid=1, sid=400, uid=0, tty_nr=0, cmdline=b"nginx: master\x00")
    add_proc(root, 410, b"nginx", ppid=400, sid=400, uid=0, tty_nr=0, cmdline=b"nginx: worker\x00")
    add_proc(root, 450, b"getty-ish", ppid=1, sid=1, uid=0, tty_nr=0, cmdline=b"agentd\x00")  # init's session
    add_proc(root, 500, b"node", ppid=1, sid=500, uid=1000, tty_nr=0, cmdline=b"node\x00")
    add_proc(root, 600, b"sleep", ppid=1, sid=100, uid=0, tty_nr=0)       # root's leftover: reparented
    add_proc(root, 700, b"make", ppid=100, sid=100, uid=0, cmdline=b"make\x00")          # root's work
    add_proc(root, 800, b"early", ppid=1, sid=800, uid=0, tty_nr=0, start=500, cmdline=b"early\x00")
    add_proc(root, 900, b"postgres", ppid=1, sid=900, uid=116, tty_nr=0, cmdline=b"postgres\x00")
    return collect(root)


def test_as_root_services_are_known_by_evidence_not_uid(tmp_path):
    snap = root_tree(tmp_path)
    cgroups = np.array(["/system.slice/nginx.service" if p in (400, 410) else "/user.slice/session-1.scope"
                        for p in snap["pid"].tolist()], dtype=object)
    r = _as_root(snap, tmp_path, cgroups=cgroups)
    assert r[400] == r[410] == "system service"          # its cgroup says so, and its worker's
    assert r[450] == "system service"                    # started by init, still in init's session
    assert r[800] == "system service"                    # started 5 s after boot, no user above it
    assert r[900] == "system service"                    # a system account that is not pt's user
    assert r[600] is None and r[700] is None             # root's own work and leftovers are triaged
    assert r[500] == "another user's process"


def test_reparented_to_init_is_not_started_by_init(tmp_path):
    snap = root_tree(tmp_path)
    r = _as_root(snap, tmp_path)                         # no cgroup evidence at all
    assert r[400] is None and r[410] is None             # a daemon without a service manager: evidence, not veto
    assert r[600] is None


def test_in_a_container_pid_1_is_no_service_manager(tmp_path):
    (tmp_path / ".dockerenv").write_text("")
    snap = root_tree(tmp_path, init=b"tini")
    ws = workspace(snap, np.full(len(snap), "/", dtype=object), me=300, euid=0, environ={},
                   fs_root=str(tmp_path))
    assert "/.dockerenv" in ws.container and not ws.init_system
    assert _as_root(snap, tmp_path)[450] is None         # tini's child is the container's work


def test_under_sudo_the_invoking_user_is_triaged(tmp_path):
    snap = root_tree(tmp_path)
    r = _as_root(snap, tmp_path, environ={"SUDO_UID": "1000"})
    assert r[500] is None and r[600] is None and r[900] == "system service"
    assert _as_root(snap, tmp_path, environ={"SUDO_UID": "x; rm"})[500] == "another user's process"


def test_a_service_cgroup_shared_with_pt_is_its_workspace(tmp_path):
    snap = root_tree(tmp_path)
    runner = "/system.slice/actions.runner.service"
    cgroups = np.full(len(snap), runner, dtype=object)
    r = _as_root(snap, tmp_path, cgroups=cgroups)
    assert r[700] is None and r[600] is None             # the CI job's processes: pt's own unit


def test_unreadable_cgroup_is_no_evidence(tmp_path):
    snap = root_tree(tmp_path)
    assert cgroup_path(None) is None and cgroup_path("") is None
    r = _as_root(snap, tmp_path, cgroups=np.full(len(snap), None, dtype=object))
    assert r[600] is None and r[400] is None


def test_user_work_descends_from_shells_terminals_editors_agents(tmp_path):
    snap = root_tree(tmp_path)
    categories = load_rules().classify(snap["comm"], snap["cmdline"])
    work = dict(zip(snap["pid"].tolist(), user_work(snap, genealogy(snap), categories).tolist()))
    assert work[100] and work[300] and work[700]
    assert not work[400] and not work[600] and not work[1]


def test_in_a_container_boot_time_says_nothing(tmp_path):
    (tmp_path / ".dockerenv").write_text("")
    snap = root_tree(tmp_path)
    assert _as_root(snap, tmp_path)[800] is None         # started 5 s after the *host's* boot
