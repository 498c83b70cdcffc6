"""The tree walks and the tree-plan checks on synthetic input (no processes)."""
from __future__ import annotations

import numpy as np

from pt.act.trees import MAX_TREE_MEMBERS, subtree, tree_problem


def test_subtree_walks_levels_and_survives_a_cycle():
    parent = np.array([-1, 0, 0, 1, 3, 5, 4])     # 6 -> 4 -> 3 -> 1 -> 0; 5 is its own parent (corrupt)
    rows, depth = subtree(parent, 1)
    assert dict(zip(rows.tolist(), depth.tolist())) == {1: 0, 3: 1, 4: 2, 6: 3}
    cycle = np.array([2, 0, 1])                    # pid reuse mid-scan: 0 -> 2 -> 1 -> 0
    rows, depth = subtree(cycle, 0)
    assert sorted(rows.tolist()) == [0, 1, 2] and depth.tolist() == [0, 1, 2]
    many = np.zeros(MAX_TREE_MEMBERS + 10, dtype=np.int64)
    many[0] = -1
    assert len(subtree(many, 0)[0]) == MAX_TREE_MEMBERS + 1     # stops past the cap


def _member(pid, ppid, depth, *, root=10, size=3, action="kill", tid=0, **tree):
    return {"target": {"pid": pid}, "ppid": ppid, "action": action,
            "tree": {"id": tid, "root": root, "depth": depth, "size": size, **tree}}


def test_tree_problem_names_what_is_wrong():
    good = [_member(12, 11, 2), _member(11, 10, 1), _member(10, 1, 0)]
    assert tree_problem(good) is None
    assert tree_problem([{"target": {"pid": 5}, "action": "kill"}]) is None      # no trees: nothing to check
    cases = {
        "is not in the tree of": [_member(12, 99, 2), _member(11, 10, 1), _member(10, 1, 0)],
        "more than once": good + [{"target": {"pid": 11}, "action": "kill"}],
        "exactly one member of depth 0": [_member(12, 11, 2), _member(11, 10, 1), _member(10, 1, 1)],
        "one action for every member": [_member(12, 11, 2), _member(11, 10, 1, action="pause"),
                                        _member(10, 1, 0)],
        "same root": [_member(12, 11, 2, size=2), _member(11, 10, 1), _member(10, 1, 0)],
        "needs id, root": [_member(12, 11, "2"), _member(11, 10, 1), _member(10, 1, 0)],
        "pgid, if given": [_member(12, 11, 2, pgid=7), _member(11, 10, 1, pgid=7), _member(10, 1, 0, pgid=7)],
    }
    for said, actions in cases.items():
        problem = tree_problem(actions)
        assert problem and said in problem, (said, problem)
    restart = [_member(10, 1, 0, size=1, action="restart")]
    assert "one action for every member" in tree_problem(restart)
    group = [_member(12, 500, 1, pgid=10), _member(11, 10, 1, pgid=10), _member(10, 1, 0, pgid=10)]
    assert tree_problem(group) is None            # a group member's parent may be outside the group
