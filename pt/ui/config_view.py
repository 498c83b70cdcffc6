"""``pt config show``: the loss matrix and priors as tables."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pt.config import ACTIONS, CLASSES
from pt.ui.text import console as make_console
from pt.ui.text import line, text


def print_config(priors, policy, console: Console | None = None) -> None:
    console = console or make_console()
    console.print(line(("priors", "bold"), f" {priors.source} ({priors.digest})"))
    console.print(line(("policy", "bold"), f" {policy.source} ({policy.digest})"))
    console.print()
    loss = Table(title="loss L(action, class)", title_justify="left", header_style="bold")
    loss.add_column("action")
    for c in CLASSES:
        loss.add_column(c, justify="right")
    for a in ACTIONS:
        loss.add_row(a, *(f"{policy.loss[a][c]:g}" for c in CLASSES))
    console.print(loss)
    prior = Table(title="class prior (point, robust interval)", title_justify="left", header_style="bold")
    for name in ("class", "prior", "interval"):
        prior.add_column(name)
    for c, p in zip(CLASSES, priors.class_prior):
        lo, hi = policy.robust_prior[c]
        prior.add_row(c, f"{p:g}", f"[{lo:g}, {hi:g}]")
    console.print(prior)
    console.print(f"FDR alpha {policy.fdr_alpha:g} · window {policy.window_s:g}s · dependency weights "
                  + ", ".join(f"{k} {v:g}" for k, v in policy.dependency_impact.items()))
    console.print(text("protected patterns: " + ", ".join(p.pattern for p in policy.protected_patterns)))
    a = policy.actions
    console.print(f"actions: plans expire after {a.plan_ttl_s:g}s · min age {a.min_age_s:g}s · kill: "
                  f"{a.first_signal['default']}, SIGKILL after {a.kill_grace_s:g}s · renice to {a.renice_to} · "
                  f"throttle {a.throttle_cpu:g} CPU · pause by {a.pause_method} · at most "
                  f"{a.max_actions_per_run} per run · respawn cooldown {a.respawn_cooldown_s:g}s")
    console.print("rate limits: " + "; ".join(
        f"{action} " + ", ".join(f"{n}/{period}" for period, n in periods.items())
        for action, periods in a.rate_limits.items()))
