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
    toward the shipped value);
  - bounds the false-kill rate of pt's kill verdicts (PAC-Bayes-kl) at the
    given confidence, or says how many labelled kill verdicts a bound needs;
  - shows the reliability of the posterior: predicted against observed
    P(abandoned or zombie) per bin.
The learned priors go to $XDG_DATA_HOME/pt/learned-priors.json (private),
which the model then uses and `pt config show` names; `--reset` removes them
(back to the shipped priors). Your own ~/.config/pt/priors.json still wins.

examples:
  pt calibrate
  pt calibrate --json | jq .data.pac_bayes
  pt calibrate --dry-run --confidence 0.99
  pt calibrate --reset
"""


def add_parser(subparsers) -> None:
    from pt.commands.options import positive_count

    p = subparsers.add_parser("calibrate", help="learn priors from outcomes; bound the false-kill rate",
                              description="Calibrate the priors from labelled outcomes in the lake.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reset", action="store_true", help="remove the learned priors (back to the shipped ones)")
    p.add_argument("--dry-run", action="store_true", help="report, but do not write the learned priors")
    p.add_argument("--confidence", type=_probability, default=0.95, metavar="P",
                   help="confidence of the false-kill bound (default 0.95)")
    p.add_argument("--bins", type=positive_count, default=10, metavar="N", help="reliability bins (default 10)")
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


def _fail(args, code: str, message: str, exit_code: int) -> int:
    from pt.ui.text import error
    error("calibrate", message)
    if args.json:
        from pt.ui.result import error_envelope, print_json
        print_json(error_envelope("calibrate", code=code, message=message))
    return exit_code


def run(args: argparse.Namespace) -> int:
    from pt.exit_codes import ERROR, OK
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

    from pt.commands.scan import lake_problem
    problem = lake_problem(args.lake)
    if problem:
        return _fail(args, "lake_error", problem, ERROR)

    import duckdb

    from pt.config import load_policy, shipped_priors
    from pt.learn.calibrate import calibrate, learned_section, read_record
    from pt.telemetry import duck
    try:
        lake = duck.open_lake(args.lake, tables=("decisions", "proc_features", "outcomes"), macros=False)
        record = read_record(lake)
    except (OSError, duckdb.Error) as exc:
        return _fail(args, "lake_error", f"cannot read the lake: {str(exc).splitlines()[0]}", ERROR)
    result = calibrate(record, shipped_priors(), confidence=args.confidence,
                       target=load_policy().fdr_alpha, bins=args.bins)
    overlay = result.pop("overlay")
    result["written"] = None
    if overlay is not None and not args.dry_run:
        previous = store.read_learned()
        generation = int((previous[1].get("generation") or 0) if previous else 0) + 1
        try:
            path = store.write_learned(overlay, learned_section(result, generation))
        except OSError as exc:
            return _fail(args, "write_error", f"cannot write the learned priors: {exc}", ERROR)
        result["written"] = {"path": str(path), "generation": generation}
    if args.json:
        print_json(envelope("calibrate", host={}, errors=[], partial=False, data=result))
    else:
        show(result)
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
    for g in result.get("cpu_window", []):
        out.print(escape(f"cpu_window {g['category']}/{g['class']} (n={g['n']}): "
                         f"Beta{tuple(round(x, 3) for x in g['shipped'])} -> "
                         f"Beta{tuple(round(x, 3) for x in g['learned'])}"))
    pb = result["pac_bayes"]
    if pb["false_kill_bound"] is None:
        out.print(escape(f"false-kill bound: none ({pb['note']})"))
    else:
        out.print(escape(f"false-kill rate <= {pb['false_kill_bound']:.4f} with confidence {pb['confidence']:g} "
                         f"({pb['false_kills']} false of {pb['n']} kill verdicts; target {pb['target']:g})"))
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
