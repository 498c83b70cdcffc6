"""``pt explain``: one process's verdict, its ledger and its thresholds."""
from __future__ import annotations

import numpy as np
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pt.config import ACTIONS, CLASSES
from pt.fields import process_columns, verdict_columns
from pt.formatting import format_bytes, format_duration
from pt.infer import ledger
from pt.ui.result import envelope, masked_columns, rows
from pt.ui.styles import ACTION_STYLE, CLASS_STYLE
from pt.ui.text import console as make_console
from pt.ui.text import line, plural, text


def _row_columns(t, row: int) -> dict:
    """Every process and verdict field of one row (verdicts need the whole
    scan), its command line masked as in plans."""
    one = np.array([row])
    snapshot = t.snapshot.take(one)
    columns = process_columns(snapshot) | verdict_columns(t, rows=one)
    return rows(masked_columns(columns, snapshot["cmdline"], snapshot["comm"]))[0]


def explain_json(t, row: int, changers: list[str]) -> dict:
    """The explain result object: the full process row plus thresholds and counterfactuals."""
    process = _row_columns(t, row)
    data = {
        "process": process,
        "orphan_bayes_factor": orphan_bayes_factor(t),
        "thresholds": {
            "sprt_log_odds": process["log_odds"], "sprt_boundary": process["sprt_boundary"],
            "fdr_alpha": t.policy.fdr_alpha, "fdr_kill_set_size": t.decision.fdr_kill_set_size,
            "lfdr": process["lfdr"],
        },
        "what_would_change_my_mind": changers,
    }
    errors = t.snapshot.errors
    return envelope("explain", host=t.snapshot.host.as_dict(), data=data,
                    errors=errors.as_list(), partial=errors.partial)


def orphan_bayes_factor(t) -> float:
    """Idea P: BF_orphan = P(orphaned | abandoned) / P(orphaned | useful) under the priors."""
    a, b = t.priors.pairs["orphan"]["abandoned"], t.priors.pairs["orphan"]["useful"]
    return (a[0] / sum(a)) / (b[0] / sum(b))


def _posterior_table(t, row: int, chosen_class: str) -> Table:
    table = Table(box=None, padding=(0, 1, 0, 0), show_header=True, header_style="bold")
    for name in ("class", "P(class | x)", "", "robust range"):
        table.add_column(name, justify="right" if name.startswith("P") else "left")
    post = t.inference.posterior[row]
    for i, c in enumerate(CLASSES):
        bar = "█" * int(round(post[i] * 30))
        style = CLASS_STYLE[c] if c == chosen_class else "dim"
        table.add_row(Text(c, style), f"{post[i]:.4f}", Text(bar, style),
                      f"[{t.decision.posterior_lower[row, i]:.3f}, {t.decision.posterior_upper[row, i]:.3f}]")
    return table


#: Below this many columns the ledger leaves out the per-class log-likelihoods
#: (bits and strength sum them up; --json has them).
WIDE_LEDGER = 100


def _ledger_table(t, row: int, width: int) -> Table:
    classes = CLASSES if width >= WIDE_LEDGER else ()
    title = ("evidence ledger (log-likelihood per class; bits: abandoned vs useful)" if classes else
             "evidence ledger (bits: abandoned vs useful; per-class terms in --json)")
    table = Table(title=title, title_justify="left", box=None, padding=(0, 1, 0, 0), header_style="bold")
    table.add_column("evidence", no_wrap=True)
    table.add_column("observed")
    for c in classes:
        table.add_column(c, justify="right")
    table.add_column("bits", justify="right")
    table.add_column("strength")
    for item in ledger.ledger_rows(t.inference, t.evidence, row):
        if item["missing"]:
            table.add_row(text(item["label"]), text(item["observed"], "dim"), *("—" for _ in classes), "—", "missing")
            continue
        bits = item["bits_abandoned_vs_useful"]
        table.add_row(text(item["label"]), text(item["observed"]),
                      *(f"{item['log_likelihood'][c]:+.2f}" for c in classes),
                      Text(f"{bits:+.2f}", "red" if bits > 0 else "green"), item["strength"])
    return table


def _loss_table(t, row: int) -> Table:
    table = Table(title="expected loss of each action", title_justify="left", box=None,
                  padding=(0, 1, 0, 0), header_style="bold")
    chosen = t.decision.action[row]
    for a in ACTIONS:
        table.add_column(a, justify="right", style=ACTION_STYLE[a] if ACTIONS.index(a) == chosen else "")
    table.add_row(*("n/a" if not np.isfinite(v) else f"{v:.2f}" for v in t.decision.expected_loss[row]))
    return table


def _memory_note(p: dict) -> str:
    """`` (3% of RAM), swap 12M``: the share of RAM and swap, where known."""
    share = p.get("rss_share")
    out = f" ({100 * share:.1f}% of RAM)" if share is not None and np.isfinite(share) else ""
    swap = p.get("swap_bytes", -1)
    return out + (f"  swap {format_bytes(int(swap))}" if swap is not None and swap > 0 else "")


def lifetime_line(life: dict) -> str:
    """The conformal remaining-lifetime bound (pt.learn.conformal) as one line."""
    if life.get("within_s") is None:
        return f"remaining lifetime: {life.get('note', 'no bound')}"
    return (f"remaining lifetime: likely to exit within {format_duration(life['within_s'])} "
            f"({life['coverage']:.0%} conformal, from {life['n']} exits of {life['category']} processes; "
            f"valid if it is like those that ended while followed up)")


def print_explain(t, row: int, changers: list[str], console: Console | None = None,
                  lifetime: dict | None = None) -> None:
    console = console or make_console()
    p = _row_columns(t, row)
    header = line(
        (f"pid {p['pid']}", "bold"), f"  ppid {p['ppid']}  {p['user'] or '?'}  state {p['state']}  age ",
        format_duration(p["elapsed_s"]), f"  rss {format_bytes(p['rss_bytes'])}", _memory_note(p))
    command = text(p["command"], "cyan", no_wrap=True, overflow="ellipsis")
    verdict = line(
        ("verdict: ", "bold"), (p["class"], CLASS_STYLE[p["class"]]),
        f" (P = {p['p_class']:.3f}, confidence {ledger.confidence_label(p['confidence'])})  →  ",
        (p["action"], ACTION_STYLE[p["action"]]))
    notes = [f"why: {p['why']}",
             f"category: command {p['command_category']}, cwd {p['cwd_category']}; "
             f"identity {p['identity']}"]
    if p["reap_via"]:
        notes.append(f"zombie: {p['reap_via']}")
    if p["protected_by"]:
        notes.append(f"protected by hard veto: {p['protected_by']} (only keep is ever recommended)")
    else:
        notes.append("vetoes checked: none applies")
    if p["demoted"]:
        notes.append({"robust": "kill was least-loss for the point prior but not for every prior in the "
                                "policy's intervals, so it was not recommended",
                      "fdr": "kill was trimmed by the FDR gate on this scan's kill set",
                      "veto": "a hard veto overrides the least-loss action",
                      "bound": t.kill_gate or "kill withheld by the learned false-kill bound",
                      "held": "held: pt recommended this action for this process last time, and the "
                              "least-loss action would save no more than the policy's stability margin"
                      }.get(p["demoted"], str(p["demoted"])))
    if lifetime is not None:
        notes.append(lifetime_line(lifetime))
    boundary = t.decision.sprt_boundary[row]
    shown = f"{boundary:+.2f}" if np.isfinite(boundary) else ("+∞ (never)" if boundary > 0 else "-∞ (always)")
    notes.append(f"two-class SPRT: log odds abandoned:useful {p['log_odds']:+.2f} vs kill boundary "
                 f"{shown} (useful vs abandoned alone; the expected losses above weigh all four); "
                 f"lfdr {p['lfdr']:.4f} (FDR alpha {t.policy.fdr_alpha}, "
                 f"{plural(t.decision.fdr_kill_set_size, 'kill')} admitted this scan)")
    notes.append(f"orphan Bayes factor P(orphaned | abandoned) / P(orphaned | useful) = "
                 f"{orphan_bayes_factor(t):.1f}; this process is "
                 f"{'orphaned' if t.evidence.orphaned[row] == 1 else 'not orphaned'}")
    if p["dependency_impact"] > 0:
        notes.append(f"dependency impact {p['dependency_impact']:.2f}: kill cost × {1 + p['dependency_impact']:.2f}")
    mind = changers or ["nothing tried (one evidence item removed, or up to a week more idle) changes it"]
    body = Group(header, command, verdict, _posterior_table(t, row, p["class"]), Text(""),
                 _ledger_table(t, row, console.width), Text(""), _loss_table(t, row), Text(""),
                 *(text(n) for n in notes), Text("what would change my mind:", "bold"),
                 *(text(f"  • {m}") for m in mind))
    console.print(Panel(body, title="pt explain", title_align="left", expand=False))
