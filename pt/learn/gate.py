"""The kill gate: no kill recommendations while pt's own record says its kills are too often wrong.

``pt calibrate`` stores, in the learned priors file, the PAC-Bayes bound on
the false-kill rate of pt's kill verdicts (:func:`pt.learn.calibrate.false_kill`).
While that bound exists (enough labelled kill verdicts) and is above the
policy's target (``fdr_alpha``), every scan, plan and watch demotes kill to
the least-loss action that remains and says why. So does a spent
alpha-investing wealth (:func:`pt.learn.investing.spent`: pt's kill verdicts
across scans have used up their false-discovery budget). With no learned
file, too few labelled kill verdicts for a bound and no spent wealth, the
gate cannot bind: nothing is withheld (the scan-wide FDR gate still applies).
A learned file that exists but cannot be used (damaged, too large, a link,
another format) withholds kills too: the gate it may hold must not open
because the file was broken; ``pt calibrate`` rewrites it, ``--reset``
removes it.
"""
from __future__ import annotations

import math

from pt.learn.investing import spent

#: The policy key holding the target the bound is compared with.
POLICY_KEY = "fdr_alpha"


def kill_gate(policy, learned: tuple[dict, dict] | None | bool = False) -> str | None:
    """Why kills are withheld now (one line naming the bound and the policy
    key), or None. ``learned``: what :func:`pt.learn.store.read_learned`
    returned, if the caller already read it."""
    if learned is False:
        from pt.learn.store import load_learned, warn
        learned, problem = load_learned()
        if problem:
            warn(problem)
            return (f"kill withheld: {problem.removeprefix('ignoring ')} (it may hold a binding kill gate); "
                    "pt calibrate rewrites it, pt calibrate --reset removes it")
    return bound_gate(policy, learned) or (spent(learned[1].get("alpha_investing"), policy.fdr_alpha)
                                           if learned else None)


def bound_gate(policy, learned: tuple[dict, dict] | None) -> str | None:
    """Why the stored PAC-Bayes bound withholds kills, or None."""
    stored = (learned[1].get("pac_bayes") if learned else None) or {}
    bound = stored.get("false_kill_bound") if isinstance(stored, dict) else None
    if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
        return None
    if bound <= policy.fdr_alpha:
        return None
    n = stored.get("n")
    of = f" from {n} labelled kill verdicts" if isinstance(n, int) and not isinstance(n, bool) else ""
    return (f"kill withheld: pt calibrate's false-kill bound {bound:.3g}{of} is above the policy's "
            f"target {policy.fdr_alpha:g} ({POLICY_KEY}); pt calibrate again once more kill verdicts are labelled")
