"""Whole-tree decisions: a process and its descendants as one plan decision.

A tree decision is planned as one entry per member, each with its own full
identity and write baseline (so apply verifies and journals every member as
it does a single target), tied together by a ``tree`` object: ``id`` (which
decision), ``root`` (the root's pid), ``depth`` (0 for the root) and
``size`` (how many members). Members are listed leaves first; apply signals
them deepest first and undo reverses root first.
"""
from __future__ import annotations

import os

import numpy as np

from pt.collect.procfs import LIVE

#: Actions a whole tree may get (restart is per service unit, not per tree).
TREE_ACTIONS = ("kill", "pause", "renice", "throttle", "quarantine")
#: The most members one tree decision may have: larger is a fork bomb or a forged plan.
MAX_TREE_MEMBERS = 4096


def subtree(parent_row: np.ndarray, root: int, limit: int = MAX_TREE_MEMBERS + 1) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``root`` and its descendants (``parent_row``: each row's parent
    row, -1 for none) and each one's depth, level by level; stops after
    ``limit`` members. A cycle (pid reuse during a scan) cannot loop: a row
    is visited once."""
    seen = np.zeros(len(parent_row), dtype=bool)
    seen[root] = True
    rows, depths, frontier, depth = [np.array([root])], [np.array([0])], np.array([root]), 0
    total = 1
    while len(frontier) and total < limit:
        depth += 1
        kids = np.flatnonzero(np.isin(parent_row, frontier) & ~seen)
        seen[kids] = True
        rows.append(kids)
        depths.append(np.full(len(kids), depth))
        frontier, total = kids, total + len(kids)
    return np.concatenate(rows)[:limit], np.concatenate(depths)[:limit]


def group(snapshot, parent_row: np.ndarray, pgid: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows of process group ``pgid``, its leader first, and each one's depth:
    0 the leader, 1 a member whose parent is not in the group (or is the
    leader), one more than its parent for the others; None when the group
    has no leader (then it has no process to name it by)."""
    n = len(snapshot)
    member = (snapshot["pgid"] == pgid) & ~snapshot["kernel_thread"]
    leader = np.flatnonzero(member & (snapshot["pid"] == pgid))
    if not len(leader):
        return None
    depth = np.full(n, -1)
    depth[leader] = 0
    has_parent = parent_row >= 0
    parent_in = has_parent & member[np.where(has_parent, parent_row, 0)]
    depth[member & ~parent_in & (depth < 0)] = 1
    frontier = np.flatnonzero(depth >= 0)
    while len(frontier):
        kids = np.flatnonzero(member & (depth < 0) & np.isin(parent_row, frontier))
        depth[kids] = depth[parent_row[kids]] + 1
        frontier = kids
    rows = np.flatnonzero(depth >= 0)
    rows = rows[np.argsort(depth[rows], kind="stable")]
    return rows, depth[rows]


def _idle(t) -> np.ndarray:
    ev = t.evidence
    return (ev.window_ticks > 0) & (ev.cpu_ticks == 0)


def recommend(t) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the whole-tree action (index into ACTIONS, 0 for none) and the
    tree's size (members, root included; 0 for none). A row gets one when
    it is most probably abandoned, its own recommendation is kill or pause,
    and it has descendants that all idled through the scan window, belong
    to its owner and are not protected by a veto (zombie descendants are
    left to their parents, not members)."""
    from pt.config import ACTIONS, CLASSES

    from pt import kernels

    n = len(t.snapshot)
    action, size = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    parent = t.context.genealogy.parent_row
    own = t.decision.action
    zombie = t.snapshot["state"] == ord("Z")
    protected = np.array([p is not None for p in t.protected_by], dtype=bool)
    # Per row, over its descendants (not zombies): how many, how many idle, how many protected.
    live = ~zombie
    values = np.stack([live, live & _idle(t), live & protected], axis=1).astype(np.float64)
    below = np.rint(kernels.subtree_sums(parent, values) - values).astype(np.int64)
    candidates = np.flatnonzero((t.inference.posterior.argmax(axis=1) == CLASSES.index("abandoned"))
                                & np.isin(own, [ACTIONS.index("kill"), ACTIONS.index("pause")])
                                & live & ~t.snapshot["kernel_thread"] & (below[:, 0] > 0)
                                & (below[:, 0] < MAX_TREE_MEMBERS) & (below[:, 1] == below[:, 0])
                                & (below[:, 2] == 0))
    # Descendants owned by another user than the candidate: one more column per distinct owner.
    uid = t.snapshot["uid"]
    for owner in sorted(set(uid[candidates].tolist())):      # np.unique would import numpy.ma (~20 ms)
        mine = candidates[uid[candidates] == owner]
        other = (live & (uid != owner)).astype(np.float64)
        others_below = np.rint(kernels.subtree_sums(parent, other) - other)[mine]
        ok = mine[others_below == 0]
        action[ok], size[ok] = own[ok], below[ok, 0] + 1
    return action, size


def covered(t, roots: np.ndarray) -> np.ndarray:
    """Boolean column: rows that are members (not the root) of the trees of
    ``roots``, i.e. that have one of them among their ancestors (pointer
    doubling: log2(depth) vector steps, whatever the number of roots)."""
    from pt import kernels
    _, parent = kernels.breadth_first(t.context.genealogy.parent_row)
    is_root = np.zeros(len(parent), dtype=bool)
    is_root[roots] = True
    has_parent = parent >= 0
    out = np.zeros(len(parent), dtype=bool)
    out[has_parent] = is_root[parent[has_parent]]
    jump = np.where(has_parent, parent, -1)
    while (jump >= 0).any():
        up = jump >= 0
        out[up] |= out[jump[up]]
        jump[up] = jump[jump[up]]
    return out


def own_lineage() -> set[int]:
    """pt's own pid and every ancestor's, read from /proc now."""
    from pt.act.identity import read_stat
    out, pid = set(), os.getpid()
    while pid > 0 and pid not in out:
        out.add(pid)
        stat = read_stat(pid)
        pid = stat.ppid if stat is not None else 0
    return out


def _is_int(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def tree_problem(actions: list[dict]) -> str | None:
    """What is wrong with a plan's tree decisions (None if nothing): each tree
    has one root (depth 0, its pid the tree's root), at most
    :data:`MAX_TREE_MEMBERS` members all with the tree's one action, and
    every other member's recorded parent is a member one level up (so no
    member lies outside the root's tree as it was at planning time); no
    tree member's pid appears twice in the plan."""
    from pt.act.plan import PID_MAX
    trees: dict[int, list[tuple[int, dict]]] = {}
    for i, a in enumerate(actions):
        tree = a.get("tree")
        if tree is None:
            continue
        if not (isinstance(tree, dict) and _is_int(tree.get("id"), 0, 2**31) and _is_int(tree.get("root"), 1, PID_MAX)
                and _is_int(tree.get("depth"), 0, MAX_TREE_MEMBERS) and _is_int(tree.get("size"), 1, 2**31)
                and (tree.get("pgid") is None or tree["pgid"] == tree["root"])):
            return (f"actions[{i}].tree needs id, root (a pid), depth and size (whole numbers); pgid, if "
                    "given, is the root's pid")
        trees.setdefault(tree["id"], []).append((i, a))
    if not trees:
        return None
    seen: set[int] = set()
    for a in actions:
        pid = a["target"]["pid"]
        if pid in seen:
            return f"pid {pid} appears more than once in a plan with a tree decision"
        seen.add(pid)
    for tid, members in trees.items():
        first = members[0][1]["tree"]
        where = f"tree {tid} (root {first['root']})"
        if len(members) > MAX_TREE_MEMBERS:
            return f"{where} has {len(members)} members; a tree decision has at most {MAX_TREE_MEMBERS}"
        if any(a["tree"]["root"] != first["root"] or a["tree"]["size"] != len(members)
               or a["tree"].get("pgid") != first.get("pgid") for _, a in members):
            return f"{where}: every member must name the same root, group and the tree's size ({len(members)})"
        if len({a["action"] for _, a in members}) != 1 or members[0][1]["action"] not in TREE_ACTIONS:
            return f"{where}: one action for every member, one of {', '.join(TREE_ACTIONS)}"
        roots = [a for _, a in members if a["tree"]["depth"] == 0]
        if len(roots) != 1 or roots[0]["target"]["pid"] != first["root"]:
            return f"{where} needs exactly one member of depth 0, its root"
        depth = {a["target"]["pid"]: a["tree"]["depth"] for _, a in members}
        for i, a in members:
            d = a["tree"]["depth"]
            if d and first.get("pgid") is not None and _is_int(a.get("ppid"), 0, PID_MAX) \
                    and depth.get(a["ppid"], 0) == d - 1:
                continue                  # a process group: a member's parent may be outside it
            if d and (not _is_int(a.get("ppid"), 1, PID_MAX) or depth.get(a["ppid"]) != d - 1):
                return (f"actions[{i}] (pid {a['target']['pid']}) is not in the tree of {first['root']}: its "
                        f"parent {a.get('ppid')!r} is not a member one level up")
    return None


def lineage_problem(actions: list[dict]) -> str | None:
    """A tree member that is pt itself or one of its ancestors (None if none)."""
    mine = own_lineage()
    for a in actions:
        if "tree" in a and a["target"]["pid"] in mine:
            return (f"tree member pid {a['target']['pid']} is pt itself or one of its ancestors; "
                    "pt never acts on its own lineage")
    return None


def newborns(plan: dict, root: str = LIVE.root) -> list[dict]:
    """Live children of a plan's tree members that are not members: born
    after planning, so never signalled. Each ``{pid, ppid, comm}``."""
    from pt.collect import collect
    members = {(a["target"]["pid"], a["target"]["start_ticks"]) for a in plan["actions"] if "tree" in a}
    if not members:
        return []
    snap = collect(root)
    pid, start = snap["pid"].tolist(), snap["start_ticks"].tolist()
    live = {p for p, s in zip(pid, start) if (p, s) in members}
    return [{"pid": p, "ppid": int(pp), "comm": str(c)}
            for p, s, pp, c in zip(pid, start, snap["ppid"].tolist(), snap["comm"])
            if pp in live and (p, s) not in members]
