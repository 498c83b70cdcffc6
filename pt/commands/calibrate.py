"""``pt calibrate``: learn priors from labelled outcomes, with a bound on false kills."""
from __future__ import annotations

import argparse

EPILOG = """\
Reads the labelled outcomes in the telemetry lake (later scans following up
each verdict, confirmations and refusals in `pt apply`, `pt feedback`), one
label per process, and
  - updates the class prior (Dirichlet conjugate update; how far it moves
    from the shipped prior is chosen by empirical Bayes) and, per command
    category with enough labels, the Beta of the CPU-window evidence (shrunk
    toward the shipped value) and the Gamma on the hazard of ending
    (conjugate update with the lifetimes seen);
  - bounds the false-kill rate of pt's kill verdicts (PAC-Bayes-kl) at the
    given confidence, or says how many labelled kill verdicts a bound needs;
  - shows the reliability of the posterior: predicted against observed
    P(abandoned or zombie) per bin;
  - checks the CPU-window and runtime models against the record (posterior
    predictive checks: a statistic, its p-value, fits/doubtful/misfit);
  - replays alpha-investing over the lake's kill verdicts across scans
    (wealth spent by kill verdicts, earned back by confirmed ones); while
    the stored wealth is spent, scans, plans and watch withhold kills.
The learned priors go to $XDG_DATA_HOME/pt/learned-priors.json (private),
which the model then uses and `pt config show` names; `--reset` removes them
(back to the shipped priors). Your own ~/.config/pt/priors.json still wins.
`--drift` compares the recent scans' evidence with a sample kept at
calibration (Kolmogorov-Smirnov and Wasserstein per feature) and, when the
machine no longer behaves as it did, removes the learned priors.
`--fleet` (a fleet lake, see `pt lake fleet`) learns from every host's
labels: the fleet's class prior, and this host's shrunk toward it
(hierarchical empirical Bayes across hosts, `data.fleet`).

examples:
  pt calibrate
  pt calibrate --json | jq .data.pac_bayes
  pt calibrate --dry-run --confidence 0.99
  pt calibrate --drift --recent-days 2
  pt calibrate --reset
  pt calibrate --fleet --lake /mnt/pt-fleet --json | jq .data.fleet
"""


def add_parser(subparsers) -> None:
    from pt.commands.options import positive_count

    p = subparsers.add_parser("calibrate", help="learn priors from outcomes; bound the false-kill rate",
                              description="Calibrate the priors from labelled outcomes in the lake.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reset", action="store_true", help="remove the learned priors (back to the shipped ones)")
    p.add_argument("--dry-run", action="store_true",
                   help="report, but do not write (or, with --drift, remove) the learned priors")
    p.add_argument("--drift", action="store_true",
                   help="compare the recent evidence with the evidence at calibration (KS, Wasserstein); "
                        "on an alarm, revert to the shipped priors")
    p.add_argument("--recent-days", type=_days, default=1.0, metavar="DAYS",
                   help="--drift: how many days of recent scans to compare (default 1)")
    p.add_argument("--confidence", type=_probability, default=0.95, metavar="P",
                   help="confidence of the false-kill bound (default 0.95)")
    p.add_argument("--bins", type=positive_count, default=10, metavar="N", help="reliability bins (default 10)")
    p.add_argument("--fleet", action="store_true",
                   help="learn from every host of a fleet lake; this host's class prior borrows "
                        "strength from the fleet's")
    p.add_argument("--lake", metavar="DIR",
                   help="telemetry lake directory (default $PT_LAKE, else $XDG_DATA_HOME/pt/lake)")
    p.add_argument("--json", action="store_true", help="print one versioned JSON object")
    p.set_defaults(run=run)


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.5 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a probability in [0.5, 1), got {text!r}")
    return value


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 3650:
        raise argparse.ArgumentTypeError(f"must be a number of days in (0, 3650], got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from pt.errors import CommandError
    from pt.exit_codes import OK
    from pt.learn import store
    from pt.ui.result import envelope, print_json

    if args.reset:
        removed = store.remove_learned()
        if args.json:
            print_json(envelope("calibrate", host={}, errors=[], partial=False,
                                data={"reset": True, "removed": removed, "path": str(store.learned_path())}))
        else:
            from pt.ui.text import escape
            print(escape(f"Removed the learned priors {store.learned_path()}: pt uses the shipped priors."
                         if removed else "No learned priors: pt already uses the shipped priors."))
        return OK

    from pt.telemetry.enabled import lake_problem
    problem = lake_problem(args.lake)
    if problem:
        raise CommandError("lake_error", problem)

    import duckdb

    from pt.config import load_policy, shipped_priors
    from pt.learn.calibrate import calibrate, learned_section, read_record
    from pt.telemetry import duck
    try:
        lake = duck.open_lake(args.lake, tables=("decisions", "proc_features", "outcomes"), macros=False,
                              fleet=args.fleet)
        record = read_record(lake)
    except (OSError, duckdb.Error) as exc:
        raise CommandError("lake_error", f"cannot read the lake: {str(exc).splitlines()[0]}")
    if args.drift:
        return check_drift(args, lake)
    from pt.learn.investing import replay
    try:
        result = calibrate(record, shipped_priors(), confidence=args.confidence,
                           target=load_policy().fdr_alpha, bins=args.bins)
        result["alpha_investing"] = replay(lake, load_policy().fdr_alpha, prior_useful())
    except OSError as exc:                      # a host name pt will not use (--fleet)
        raise CommandError("lake_error", str(exc))
    except duckdb.Error as exc:
        raise CommandError("lake_error", f"cannot read the lake: {str(exc).splitlines()[0]}")
    overlay = result.pop("overlay")
    if overlay is None and result["alpha_investing"].get("exhausted"):
        overlay = {}            # no labels yet, but a spent budget the kill gate must see
    result["written"] = None
    if overlay is not None and not args.dry_run:
        from pt.learn import drift
        previous = store.read_learned()
        last = previous[1].get("generation") if previous else 0
        generation = (last if isinstance(last, int) and not isinstance(last, bool) and 0 <= last < 2**31 else 0) + 1
        until = latest_ts(lake)
        section = {**learned_section(result, generation),
                   "reference": drift.sample(lake, until - REFERENCE_DAYS * 86400, until)}
        try:
            path = store.write_learned(overlay, section)
        except OSError as exc:
            raise CommandError("write_error", f"cannot write the learned priors: {exc}")
        result["written"] = {"path": str(path), "generation": generation}
    if args.json:
        print_json(envelope("calibrate", host={}, errors=[], partial=False, data=result))
    else:
        show(result)
    return OK


def prior_useful() -> float:
    """The prior of useful the alpha-investing p-values divide by: the smaller
    of the shipped and the one in force (a smaller one is conservative)."""
    from pt.config import CLASSES, load_priors, shipped_priors
    from pt.config_errors import ConfigError
    i = CLASSES.index("useful")
    try:
        current = load_priors().class_prior[i]
    except (ConfigError, OSError, ValueError):
        current = 1.0
    return min(shipped_priors().class_prior[i], current)


#: Days of scans before a calibration whose evidence is kept as the drift reference.
REFERENCE_DAYS = 7


def latest_ts(lake) -> float:
    """Just after the newest recorded evidence (the lake's clock, not the wall's)."""
    ts = lake.query("SELECT max(ts) FROM proc_features")[1][0][0]
    return (ts or 0.0) + 1.0


def check_drift(args, lake) -> int:
    """``--drift``: compare, report, and on an alarm remove the learned priors."""
    from pt.exit_codes import OK
    from pt.learn import drift, store
    from pt.ui.result import envelope, print_json
    from pt.ui.text import escape
    found = store.read_learned()
    reference = (found[1].get("reference") if found else None) or {}
    if not isinstance(reference, dict):
        reference = {}
    until = latest_ts(lake)
    recent = drift.sample(lake, until - args.recent_days * 86400, until)
    out = {"learned": found is not None, **drift.compare(reference, recent), "reverted": False}
    if found is None:
        out["note"] = "no learned priors: pt uses the shipped priors, nothing can drift from a calibration"
    elif out["alarm"] and not args.dry_run:
        out["reverted"] = store.remove_learned()
    if args.json:
        print_json(envelope("calibrate", host={}, errors=[], partial=False, data={"drift": out}))
        return OK
    for name, f in out["features"].items():
        print(escape(f"{name}: " + (f"KS {f['ks']:.3f} (p {f['p_value']:.2g}), Wasserstein {f['wasserstein']:.3g} "
                                    f"(tolerance {f['tolerance']:g}){'  ALARM' if f['alarm'] else ''}"
                                    if f["compared"] else
                                    f"not compared ({f['reference_n']} reference, {f['recent_n']} recent values)")))
    if out.get("note"):
        print(escape(out["note"]))
    elif out["reverted"]:
        print("Drift: the learned priors no longer fit; removed them, pt uses the shipped priors. "
              "Run `pt calibrate` again once the new behaviour is labelled.")
    elif out["alarm"]:
        print("Drift: the learned priors no longer fit (--dry-run: kept).")
    else:
        print("No drift beyond tolerance: the learned priors stay.")
    return OK


def show(result: dict) -> None:
    """The calibration for people: labels, prior, bound, and the reliability chart."""
    from rich.table import Table

    from pt.ui.text import console, escape
    out = console()
    labels = result["labels"]
    out.print(escape(f"{labels['n']} labelled processes: "
                     + ", ".join(f"{k} {v}" for k, v in labels["by_class"].items())
                     + f" (conflicting {labels['conflicting']}, without a verdict {labels['without_verdict']})"))
    if "class_prior" in result:
        cp = result["class_prior"]
        table = Table("class", "shipped", "learned", title=f"class prior (strength {cp['strength']:.3g})")
        for c, v in cp["learned"].items():
            table.add_row(c, f"{cp['shipped'][c]:.4f}", f"{v:.4f}")
        out.print(table)
    if "fleet" in result:
        f = result["fleet"]
        out.print(escape(f"fleet: {len(f['hosts'])} hosts, fleet prior "
                         + ", ".join(f"{c} {v:.3f}" for c, v in f["fleet_prior"].items())
                         + f"; hosts shrunk toward it with strength {f['strength_toward_fleet']:.3g} "
                         f"(this host {f['this_host']}: {f['hosts'].get(f['this_host'], {}).get('n', 0)} labels)"))
    for g in result.get("cpu_window", []):
        out.print(escape(f"cpu_window {g['category']}/{g['class']} (n={g['n']}): "
                         f"Beta{tuple(round(x, 3) for x in g['shipped'])} -> "
                         f"Beta{tuple(round(x, 3) for x in g['learned'])}"))
    for g in result.get("survival", []):
        out.print(escape(f"survival {g['category']}/{g['class']} (n={g['n']}, {g['ended']} ended): "
                         f"Gamma{tuple(round(x, 3) for x in g['shipped'])} -> "
                         f"Gamma{tuple(round(x, 3) for x in g['learned'])}"))
    pb = result["pac_bayes"]
    if pb["false_kill_bound"] is None:
        out.print(escape(f"false-kill bound: none ({pb['note']})"))
    else:
        out.print(escape(f"false-kill rate <= {pb['false_kill_bound']:.4f} with confidence {pb['confidence']:g} "
                         f"({pb['false_kills']} false of {pb['n']} kill verdicts; target {pb['target']:g})"))
    ai = result.get("alpha_investing")
    if ai:
        out.print(escape(f"alpha-investing over {ai['kill_verdicts']} kill verdicts across scans: wealth "
                         f"{ai['wealth']:.4g} (started {ai['alpha'] * ai['eta']:.4g}); {ai['admitted']} of "
                         f"{ai['tests']} admitted, {ai['confirmed']} confirmed; the next kill needs lfdr <= "
                         f"{ai['next_level']:.3g} (p = lfdr / P(useful); mFDR <= {ai['alpha']:g})"
                         + ("; the wealth is spent: scans withhold kills until confirmed kills pay it back"
                            if ai.get("exhausted") else "")))
    from pt.learn.ppc import MIN_N
    for name, c in result.get("ppc", {}).items():
        if c["p_value"] is None:
            out.print(escape(f"predictive check {name}: too few processes ({c['n']} of {MIN_N}); "
                             f"not checked (a check on so few cannot fail)"))
        else:
            out.print(escape(f"predictive check {name}: {c['statistic']} {c['observed']:.4g} "
                             f"(model expects {c['expected']:.4g}) p {c['p_value']:.3g} "
                             f"{_bar(c['p_value'], 10)} → {c['verdict']}"))
    if result["reliability"]:
        chart = Table("P(not useful)", "n", "predicted", "observed", title="reliability")
        for b in result["reliability"]:
            chart.add_row(f"{b['low']:.1f}-{b['high']:.1f}", str(b["n"]),
                          _bar(b["predicted"]), _bar(b["observed"]))
        out.print(chart)
    if result.get("note"):
        out.print(escape(result["note"]))
    if result["written"]:
        out.print(escape(f"Learned priors written to {result['written']['path']} "
                         f"(generation {result['written']['generation']}); `pt calibrate --reset` reverts."))


def _bar(p: float, width: int = 20) -> str:
    n = int(round(p * width))
    return "█" * n + "·" * (width - n) + f" {p:.2f}"
