"""Helpers for pt's own tests, by job: :mod:`~pt.testing.children` (real
processes a test starts itself), :mod:`~pt.testing.env` (pt run isolated:
private state, a policy that acts, a regular user), :mod:`~pt.testing.procfs`
(fake and recorded procfs, plain-Python readers), :mod:`~pt.testing.data`
(command-line cases, hostile text) and :mod:`~pt.testing.numeric` (mpmath
references). Everything is importable from ``pt.testing`` itself.
"""
from __future__ import annotations

from pt.testing.children import (  # noqa: F401 (re-exported)
    sleepers, renamed_sleeper, zombie, FORK_LOOP, fork_loop, named_process, spinner, orphan, spawn_detached,
    orphaned_runner, children,
    kill_if_same, start_ticks, _state, wait_for, running, python_child, cpu_ticks, cpu_share)
from pt.testing.env import (  # noqa: F401 (re-exported)
    isolated_env, run_pt, pt_at_terminal, acting_policy, acting_env, plan_for, regular_user, user_python,
    user_workspace, as_regular_user)
from pt.testing.procfs import (  # noqa: F401 (re-exported)
    row_of, STAT_TAIL, STATUS, make_tree, add_proc, read_processes_python, SAMPLER_FILES, SAMPLER_HOST_FILES,
    capture_procfs, sample_python, fd_count)
from pt.testing.numeric import (  # noqa: F401 (re-exported)
    relative_error, assert_allclose_scaled, mp_log_beta, mp_betainc, mp_beta_ppf)
from pt.testing.data import (  # noqa: F401 (re-exported)
    HOSTILE_TEXT, COMMAND_CASES, case_comm, classify_naive)
