"""Rich and JSON views of a deep scan, and its live progress display."""
from __future__ import annotations

import contextlib

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from pt.act.identity import identity_string
from pt.config import ACTIONS, CLASSES
from pt.fields import change_at_s, deep_columns
from pt.infer import ledger, memory
from pt.infer.posterior import ABANDONED, LN2, USEFUL, USEFUL_BAD
from pt.infer.timeseries import sparkline
from pt.ui.styles import ACTION_STYLE
from pt.ui.result import envelope
from pt.ui.text import console as make_console
from pt.ui.text import line, plural, text


@contextlib.contextmanager
def progress(console: Console | None = None):
    """A live display of the deep scan (candidates open, settled, samples,
    time left); yields the ``on_progress`` callback for :func:`pt.deep.deep_scan`."""
    bar = Progress(TextColumn("deep scan"), BarColumn(), TextColumn("{task.fields[status]}"),
                   TimeRemainingColumn(), console=console or make_console(stderr=True), transient=True)
    with bar:
        task = bar.add_task("deep", total=1.0, status="quick scan…")

        def update(open_: int, settled: int, samples: int, elapsed: float, max_time: float) -> None:
            bar.update(task, completed=min(elapsed / max_time, 1.0) if max_time else 1.0,
                       status=f"{open_} watching · {settled} settled · {samples} samples")
        yield update


def regime_row(d, i: int) -> dict:
    """The CPU-regime evidence item of candidate ``i``, shaped like a ledger row."""
    terms = d.regime.terms[i]
    seen = bool(d.regime.observed[i])
    bits = float((terms[ABANDONED] - terms[USEFUL]) / LN2) if seen else 0.0
    return {"feature": "cpu_regime", "label": "CPU regime", "observed": regime_text(d, i), "missing": not seen,
            "log_likelihood": {c: round(float(v), 4) for c, v in zip(CLASSES, terms)},
            "bits_abandoned_vs_useful": round(bits, 4), "strength": ledger.strength(bits) if seen else "none"}


def wakeup_row(d, i: int) -> dict:
    """The wake-up evidence item of candidate ``i``, shaped like a ledger row."""
    terms = d.wakes.terms[i]
    seen = bool(d.wakes.observed[i])
    bits = float((terms[ABANDONED] - terms[USEFUL]) / LN2) if seen else 0.0
    return {"feature": "wakeups", "label": "wake-ups", "observed": wakeup_text(d, i), "missing": not seen,
            "log_likelihood": {c: round(float(v), 4) for c, v in zip(CLASSES, terms)},
            "bits_abandoned_vs_useful": round(bits, 4), "strength": ledger.strength(bits) if seen else "none"}


def memory_row(d, i: int) -> dict:
    """The memory-growth evidence item of candidate ``i``, shaped like a ledger
    row (its bits are abandoned over useful like every row's; growth speaks
    to useful_bad, which ``bits_useful_bad_vs_useful`` gives)."""
    terms = d.growth.terms[i]
    seen = bool(d.growth.observed[i])
    bits = float((terms[ABANDONED] - terms[USEFUL]) / LN2) if seen else 0.0
    harm = float((terms[USEFUL_BAD] - terms[USEFUL]) / LN2) if seen else 0.0
    return {"feature": "memory_growth", "label": "memory growth", "observed": memory.growth_text(d.growth, i),
            "missing": not seen, "log_likelihood": {c: round(float(v), 4) for c, v in zip(CLASSES, terms)},
            "bits_abandoned_vs_useful": round(bits, 4), "bits_useful_bad_vs_useful": round(harm, 4),
            "strength": ledger.strength(harm if abs(harm) > abs(bits) else bits) if seen else "none"}


def memory_json(d, i: int, cols: dict | None = None) -> dict:
    """The candidate's RSS over the watch: the sustained slope and its
    uncertainty (MB/min, null if too few samples), the last RSS and the
    memory pressure seen (PSI some, share of time; null without PSI)."""
    c = deep_columns(d) if cols is None else cols
    return {"rss_slope_mb_min": _num(c["rss_slope_mb_min"][i]),
            "rss_slope_sd_mb_min": _num(c["rss_slope_sd_mb_min"][i]),
            "rss_mb": _num(d.growth.rss_mb[i]), "memory_pressure": _num(c["memory_pressure"][i]),
            "text": memory.growth_text(d.growth, i)}


def wakeup_text(d, i: int) -> str:
    if not d.wakes.observed[i]:
        return "never idle while watched"
    return f"{int(d.wakes.onsets[i])} in {d.wakes.idle_s[i]:.1f}s idle"


def _change_at_s(d, i: int) -> float | None:
    at = float(change_at_s(d)[i])
    return None if np.isnan(at) else at


def regime_text(d, i: int) -> str:
    if not d.regime.observed[i]:
        return "too few samples"
    p, at = float(d.regime.p_change[i]), _change_at_s(d, i)
    if p < 0.5 or at is None:
        return f"steady for {len(d.series) - 1} samples (P(change) {p:.2g})"
    before, after = d.regime.share_before[i], d.regime.share_after[i]
    kind = "stopped" if after < before else "started"
    return f"{kind} {at:.1f}s in: {100 * before:.0f}% → {100 * after:.0f}% of a CPU (P(change) {p:.2f})"


def notes_text(d, i: int) -> list[str]:
    n = d.notes
    out = []
    if np.isfinite(n.io_stopped_s[i]):
        out.append(f"IO stopped {n.io_stopped_s[i]:.1f}s into the scan")
    if np.isfinite(n.cpu_trend_per_s[i]) and abs(n.cpu_trend_per_s[i]) > 2 * n.cpu_trend_sd[i]:
        out.append(f"CPU trend {100 * n.cpu_trend_per_s[i]:+.1f}%/s (±{100 * n.cpu_trend_sd[i]:.1f})")
    if np.isfinite(n.ctx_branching[i]) and n.ctx_branching[i] > 0:
        out.append(f"bursty scheduling (branching {n.ctx_branching[i]:.1f})"
                   + ("; burst intensity decayed to baseline" if n.bursts_decayed[i] else ""))
    return out


def outcome_text(d, i: int) -> str | None:
    """Why candidate ``i`` did not get its least-loss action: the veto's rule
    by name (its evidence was still watched), or the demotion's reason."""
    rule = d.quick.protected_by[int(d.rows[i])]
    if rule is not None:
        return f"action pinned to keep by rule: {rule} (observation is never vetoed)"
    return d.decision.demoted[i]


def _share_series(d, i: int) -> np.ndarray:
    return d.series.cpu_share()[:, i] if len(d.series) > 1 else np.zeros(0)


def _io_series(d, i: int) -> np.ndarray:
    io = d.series.delta("syscalls")[:, i] if len(d.series) > 1 else np.zeros(0, dtype=np.int64)
    return np.where(io >= 0, io, np.nan)


def candidate_json(d, i: int) -> dict:
    t, row = d.quick, int(d.rows[i])
    snap = t.snapshot
    argv = snap["cmdline"][row]

    def verdict(post, action, demoted):
        return {"action": ACTIONS[int(action)], "class": CLASSES[int(np.argmax(post))],
                "posterior": {c: round(float(p), 6) for c, p in zip(CLASSES, post)}, "demoted": demoted}
    tau = int(d.regime.tau[i])
    share, io = _share_series(d, i), _io_series(d, i)
    c = deep_columns(d)
    return {
        "pid": int(snap["pid"][row]), "comm": str(snap["comm"][row]),
        "command": " ".join(argv) if argv else None,
        "identity": identity_string(snap.host.boot_id, snap["start_ticks"][row], snap["pid"][row]),
        "protected_by": t.protected_by[row],
        "quick": verdict(t.inference.posterior[row], t.decision.action[row], t.decision.demoted[row]),
        "deep": verdict(d.inference.posterior[i], d.decision.action[i], d.decision.demoted[i]),
        "samples": int(c["samples"][i]),
        "settled_at_s": None if np.isnan(c["settled_at_s"][i]) else round(float(c["settled_at_s"][i]), 3),
        "timed_out": bool(c["timed_out"][i]),
        "net_voi": None if not np.isfinite(c["net_voi"][i]) else round(float(c["net_voi"][i]), 6),
        "counts": {k: int(c[k][i]) for k in ("cpu_ticks", "elapsed_ticks", "io_syscalls")},
        "cpu_regime": {"p_change": _num(c["p_change"][i]),
                       "change_at_s": None if np.isnan(c["change_at_s"][i]) else float(c["change_at_s"][i]),
                       **{k: _num(c[k][i]) for k in ("share_before", "share_after", "lr_stopped", "lr_started")},
                       "text": regime_text(d, i)},
        "annotations": {**{k: _num(c[k][i]) for k in ("io_stopped_s", "io_change_prob", "cpu_trend_per_s",
                                                       "cpu_trend_sd", "ctx_branching")},
                        "bursts_decayed": bool(d.notes.bursts_decayed[i]), "text": notes_text(d, i)},
        "wakeups": {"onsets": int(d.wakes.onsets[i]), "idle_s": round(float(d.wakes.idle_s[i]), 3)},
        "memory": memory_json(d, i, c),
        "evidence": ledger.ledger_rows(d.inference, d.evidence, i) + [memory_row(d, i), regime_row(d, i),
                                                                        wakeup_row(d, i)],
        "series": {"cpu_share": [_num(v) for v in share], "io_syscalls": [_num(v) for v in io],
                   "change_index": tau if tau >= 0 else None},
    }


def _num(value) -> float | None:
    value = float(value)
    return round(value, 6) if np.isfinite(value) else None


def deep_json(d) -> dict:
    data = {
        "candidates": [candidate_json(d, i) for i in range(len(d))],
        "skipped": d.skipped,
        "summary": {"watched": len(d), "settled": int(np.isfinite(d.settled_at_s).sum()),
                    "timed_out": int(d.timed_out.sum()), "elapsed_s": round(d.elapsed_s, 3),
                    "ticks": len(d.series), "interval_s": d.series.interval_s,
                    "sampler": {k: _num(v) for k, v in d.series.cost().items()},
                    "sampler_mode": d.series.mode},
        "model": {"priors": {"source": d.quick.priors.source, "digest": d.quick.priors.digest},
                  "policy": {"source": d.quick.policy.source, "digest": d.quick.policy.digest}},
    }
    errors = d.quick.snapshot.errors
    return envelope("deep-scan", host=d.quick.snapshot.host.as_dict(), data=data, errors=errors.as_list(),
                    partial=errors.partial)


#: Below this many columns what the series say goes under the table, a line a
#: process, instead of in a column folded a word a line.
WIDE_TABLE = 120


def print_deep(d, console: Console | None = None) -> None:
    console = console or make_console()
    for s in d.skipped:
        console.print(line("  ", ("not watched", "yellow"), f" pid {s['pid']}: {s['reason']}"))
    if not len(d):
        console.print(line(("Nothing worth watching:", "green"), " every selected process's decision is already "
                           "clear (or none matched)."))
        return
    table = Table(title=text(f"deep scan: {plural(len(d), 'process', 'processes')} watched for {d.elapsed_s:.1f}s"),
                  title_justify="left",
                  caption=_caption(d), caption_justify="left")
    wide = console.width >= WIDE_TABLE
    for name, kw in (("pid", {"justify": "right"}), ("command", {"max_width": 32, "no_wrap": True,
                                                                  "overflow": "ellipsis"}),
                     ("quick → deep", {}), ("P(abandoned)", {"justify": "right"}), ("CPU", {}),
                     ("watched", {"justify": "right"}), ("what the series say", {"max_width": 56})):
        if wide or name != "what the series say":
            table.add_column(name, **kw)
    snap = d.quick.snapshot
    below = []
    for i in range(len(d)):
        row = int(d.rows[i])
        argv = snap["cmdline"][row]
        quick_a, deep_a = ACTIONS[int(d.quick.decision.action[row])], ACTIONS[int(d.decision.action[i])]
        arrow = line((quick_a, ACTION_STYLE.get(quick_a, "")), " → ", (deep_a, ACTION_STYLE.get(deep_a, "")))
        p_quick, p_deep = d.quick.inference.posterior[row, ABANDONED], d.inference.posterior[i, ABANDONED]
        tau = int(d.regime.tau[i]) if d.regime.p_change[i] >= 0.5 else -1
        watched = f"{d.settled_at_s[i]:.1f}s" if np.isfinite(d.settled_at_s[i]) else (
            "to the end" + (" ⏱" if d.timed_out[i] else ""))
        said = "; ".join([regime_text(d, i), f"wake-ups {wakeup_text(d, i)}"] + _growth_note(d, i)
                         + notes_text(d, i))
        if d.quick.protected_by[row] is not None:
            said += "; action pinned to keep (veto, below)"
        elif d.decision.demoted[i]:
            said += f"; {d.decision.demoted[i]}"
        table.add_row(text(snap["pid"][row]), text(" ".join(argv) if argv else f"[{snap['comm'][row]}]"),
                      arrow, text(f"{p_quick:.3f} → {p_deep:.3f}"),
                      text(sparkline(_share_series(d, i), (tau,) if tau >= 0 else (), width=24)),
                      text(watched), *((text(said),) if wide else ()))
        below.append(text(f"  pid {snap['pid'][row]}: {said}"))
    console.print(table)
    if not wide:                                   # on narrow terminals, a line a process under the table
        for said in below:
            console.print(said)
    for i in np.flatnonzero([d.quick.protected_by[r] is not None for r in d.rows]):
        console.print(text(f"  pid {snap['pid'][d.rows[i]]}: {outcome_text(d, i)}"))


def _growth_note(d, i: int) -> list[str]:
    """The memory growth, when it is evidence of harm (a positive grade or more)."""
    row = memory_row(d, i)
    return [row["observed"]] if row["bits_useful_bad_vs_useful"] >= STRENGTH_POSITIVE else []


#: Bits of useful_bad over useful from which the table names the memory growth ("positive" on Kass & Raftery's scale).
STRENGTH_POSITIVE = 2 / (2 * float(LN2))


def _caption(d) -> Text:
    cost = d.series.cost()
    return text(f"{int(np.isfinite(d.settled_at_s).sum())} settled early by value of information, "
                f"{int(d.timed_out.sum())} at the time bound · sampled every {d.series.interval_s:g}s "
                f"({d.series.mode}; {100 * cost['core_share']:.1f}% of a core per pass rate) · "
                "| marks a CPU change point")


def print_deep_explain(d, console: Console | None = None) -> None:
    """How the deep scan moved one process's posterior: the evidence that
    changed, the series with their change point, and the annotations."""
    from rich.panel import Panel
    console = console or make_console()
    if not len(d):
        for s in d.skipped:
            console.print(text(f"deep scan: pid {s['pid']} not watched: {s['reason']}"))
        return
    row = int(d.rows[0])
    t = d.quick
    table = Table(title="posterior: quick scan → deep scan", title_justify="left")
    table.add_column("class")
    table.add_column("quick", justify="right")
    table.add_column("deep", justify="right")
    for j, c in enumerate(CLASSES):
        table.add_row(c, f"{t.inference.posterior[row, j]:.4f}", f"{d.inference.posterior[0, j]:.4f}")
    ledger_table = Table(title="deep evidence (bits toward abandoned over useful)", title_justify="left")
    for name in ("evidence", "observed", "bits"):
        ledger_table.add_column(name, justify="right" if name == "bits" else "left")
    rows = ledger.ledger_rows(d.inference, d.evidence, 0)
    moved = [x for x in rows if x["feature"] in ("cpu_window", "io_window", "tree")]     # what the watch can move
    for r in moved + [regime_row(d, 0), wakeup_row(d, 0)]:
        ledger_table.add_row(text(r["label"]), text(r["observed"]), text(f"{r['bits_abandoned_vs_useful']:+.2f}"))
    mem = memory_row(d, 0)
    ledger_table.add_row(text(mem["label"]), text(mem["observed"]),
                         text(f"{mem['bits_abandoned_vs_useful']:+.2f} ({mem['bits_useful_bad_vs_useful']:+.2f} "
                              "toward useful_bad)"))
    tau = int(d.regime.tau[0]) if d.regime.p_change[0] >= 0.5 else -1
    marks = (tau,) if tau >= 0 else ()
    quick_a, deep_a = ACTIONS[int(t.decision.action[row])], ACTIONS[int(d.decision.action[0])]
    lines = [Text.assemble(("action: ", "bold"), (quick_a, ACTION_STYLE.get(quick_a, "")), " → ",
                           (deep_a, ACTION_STYLE.get(deep_a, ""))),
             Text(f"CPU  {sparkline(_share_series(d, 0), marks, width=60)}"),
             Text(f"IO   {sparkline(_io_series(d, 0), marks, width=60)}"),
             Text(f"{d.counts.samples[0]} samples every {d.series.interval_s:g}s; "
                  + (f"settled after {d.settled_at_s[0]:.1f}s (more watching would not change the decision)"
                     if np.isfinite(d.settled_at_s[0]) else "watched to the time bound"))]
    lines += [text(f"• {n}") for n in [regime_text(d, 0)] + notes_text(d, 0)]
    if outcome_text(d, 0):
        lines.append(text(f"• {outcome_text(d, 0)}"))
    from rich.console import Group
    console.print(Panel(Group(table, Text(""), ledger_table, Text(""), *lines), title="deep scan",
                        title_align="left", expand=False))
