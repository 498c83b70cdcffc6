"""``pt config show|validate``: the priors and policy pt would use, and whether they load."""
from __future__ import annotations

import argparse

EPILOG = """\
Shipped defaults live in the package (pt/data/priors.json, policy.json); a file
of the same name in $XDG_CONFIG_HOME/pt/ (default ~/.config/pt/) overrides only
the keys it names. Command-category rules of the user (categories.json there)
are tried before the shipped ones. validate reads all three and refuses values
the model cannot use, files over 1 MiB, nesting over 32 levels and non-UTF-8.

examples:
  pt config show                    the merged priors and policy, with their sources
  pt config validate                check the user files; exit 1 naming a bad value
  pt config validate --priors my-priors.json
  pt config validate --rules my-categories.json
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "config", help="show or validate priors and policy",
        description="Show the effective priors and policy, or validate them.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("show", "validate"), help="what to do")
    p.add_argument("--priors", metavar="FILE", help="a priors file to use instead of the user file")
    p.add_argument("--policy", metavar="FILE", help="a policy file to use instead of the user file")
    p.add_argument("--rules", metavar="FILE", help="a category rules file to use instead of the user file")
    p.add_argument("--json", action="store_true", help="print one versioned JSON object")
    p.set_defaults(run=run)


def _describe(priors, policy) -> dict:
    import dataclasses

    from pt.config import ACTIONS, CLASSES
    return {
        "priors": {"source": priors.source, "digest": priors.digest,
                   "class_prior": dict(zip(CLASSES, priors.class_prior)),
                   "pairs": priors.pairs, "by_category": priors.by_category,
                   "categorical": priors.categorical},
        "policy": {"source": policy.source, "digest": policy.digest,
                   "loss": {a: policy.loss[a] for a in ACTIONS},
                   "dependency_impact": policy.dependency_impact,
                   "robust_prior": policy.robust_prior, "fdr_alpha": policy.fdr_alpha,
                   "window_s": policy.window_s,
                   "guards": {"min_user_uid": policy.min_user_uid,
                              "allow_other_users": policy.allow_other_users,
                              "allow_system_services": policy.allow_system_services,
                              "protected_patterns": [p.pattern for p in policy.protected_patterns]},
                   "actions": dataclasses.asdict(policy.actions)},
    }


def run(args: argparse.Namespace) -> int:
    from pt.config import load_policy, load_priors
    from pt.exit_codes import OK
    from pt.features.categories import load_rules
    from pt.features.rules_file import SHIPPED_NAME, user_rules_path
    from pt.ui.result import envelope, print_json

    priors, policy = load_priors(args.priors), load_policy(args.policy)     # a ConfigError: pt.cli reports it
    load_rules(args.rules)
    rules = args.rules or (str(user_rules_path()) if user_rules_path().exists() else SHIPPED_NAME)
    if args.json:
        data = _describe(priors, policy) if args.action == "show" else {"valid": True}
        data["sources"] = [priors.source, policy.source, rules]
        print_json(envelope("config", host={}, data=data, errors=[], partial=False))
    elif args.action == "validate":
        from pt.ui.text import escape
        print(escape(f"ok: {priors.source} (priors {priors.digest}), {policy.source} (policy {policy.digest}), "
                     f"{rules} (rules)"))
    else:
        from pt.ui.config_view import print_config
        print_config(priors, policy)
    return OK
