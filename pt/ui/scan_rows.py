"""Which processes a scan shows, in what order, with which fields' columns
(no Rich here: ``--json`` selects rows without importing the renderer)."""
from __future__ import annotations

import pwd
from dataclasses import dataclass

import numpy as np

from pt.collect.snapshot import Snapshot
from pt.fields import FIELDS, FIELDS_BY_NAME, RAW_TABLE, TRIAGE_TABLE, process_columns, verdict_columns

PROCESS_FIELD_NAMES = frozenset(f.name for f in FIELDS)
#: Columns of ``--tree`` without and with verdicts (the tree itself is drawn in COMMAND).
RAW_TREE = ("pid", "user", "state", "cpu_share", "rss_bytes", "elapsed_s", "command")
TRIAGE_TREE = ("pid", "cpu_window_share", "rss_bytes", "descendants", "subtree_cpu", "subtree_rss",
               "idle_descendants", "recommendation", "command")
TREE_COLUMNS = frozenset(RAW_TREE + TRIAGE_TREE + ("ppid",))

#: The policy key that relaxes a hard veto, by the start of the rule's name
#: (rules not listed are fixed: pid 1, pt itself, the login session, ...).
VETO_KEYS = (("system service", "guards.allow_system_services"),
             ("another user's process", "guards.allow_other_users"),
             ("protected pattern", "guards.protected_patterns"))


@dataclass(frozen=True)
class ScanView:
    """The rows chosen for display, in display order, with the fields' columns.

    ``table`` names the columns a person sees; ``columns`` holds those (or,
    for JSON, every field). With verdicts, ``recommended`` counts the
    selected rows per recommended action and ``protected`` per hard veto
    (rule names as :func:`veto_rule` groups them).
    """

    snapshot: Snapshot
    columns: dict[str, np.ndarray]
    table: tuple[str, ...]
    total: int
    hidden_kernel_threads: int
    sort: str
    recommended: dict[str, int] | None = None
    protected: dict[str, int] | None = None
    kill_withheld: dict | None = None        # {"count", "why"} while the learned kill gate binds
    incidents: tuple | None = None          # lifecycle incidents seen in the window (pt.infer.incidents)
    window_s: float = 0.0

    def __len__(self) -> int:
        return len(self.snapshot)


def resolve_users(users: list[str]) -> set[int]:
    """uids for ``--user`` values (login names or numeric uids); unknown names raise."""
    uids = set()
    for user in users:
        if user.isascii() and user.isdigit():
            uid = int(user)
            if uid > 0xFFFFFFFE:              # the kernel's largest uid; (uid_t)-1 means "none"
                raise ValueError(f"--user: {user!r} is not a uid (at most 4294967294)")
            uids.add(uid)
            continue
        try:
            uids.add(pwd.getpwnam(user).pw_uid)
        except KeyError:
            raise ValueError(f"--user: no such user {user!r}") from None
    return uids


def selection_from(args):
    """The :class:`~pt.act.plan.Selection` the shared filter options
    (:func:`pt.commands.options.add_selection_options`) name; an unknown user
    is a usage error (:class:`~pt.errors.CommandError`)."""
    from pt.act.plan import Selection
    from pt.errors import CommandError
    try:
        uids = tuple(sorted(resolve_users(args.user))) if args.user else None
    except ValueError as exc:
        raise CommandError("usage", str(exc)) from None
    return Selection(tuple(args.pid or ()), args.match, uids, tuple(args.classes or ()), tuple(args.actions or ()),
                     args.min_age)


def warn_gave_up(args) -> None:
    """Say on stderr how many command lines ``--match`` gave up on (not selected)."""
    if args.match is not None and args.match.gave_up:
        import sys

        from pt.ui.text import escape, plural
        print(escape(f"pt {args.command}: --match {args.match.pattern!r} gave up on "
                     f"{plural(args.match.gave_up, 'command line')} (too slow for the regex), so "
                     f"{'it was' if args.match.gave_up == 1 else 'they were'} not selected; a simpler regex "
                     "avoids this"), file=sys.stderr)


def _sort_order(columns: dict[str, np.ndarray], pid: np.ndarray, key: str, reverse: bool) -> np.ndarray:
    """Stable row order for ``key`` (amounts biggest first), ties broken by pid."""
    values = columns[key]
    if values.dtype == object:
        values = np.array(["" if v is None else str(v) for v in values])
        order = np.lexsort((pid, values))
    else:
        values = values.astype(np.float64)
        order = np.lexsort((pid, -values if FIELDS_BY_NAME[key].descending else values))
    return order[::-1] if reverse else order


def attention_order(triage, rows: np.ndarray) -> np.ndarray:
    """Order of ``rows`` (indices into ``triage``) by what is worth a look:
    recommended actions first (most expected loss saved first), then zombies,
    then the least probably useful; ties by pid. A protected zombie or
    runaway is never buried below thousands of quiet processes."""
    from pt.infer.posterior import USEFUL

    d = triage.decision
    action = d.action[rows]
    loss = d.expected_loss[rows]
    saved = np.nan_to_num(loss[:, 0] - np.take_along_axis(loss, action[:, None], axis=1)[:, 0])
    zombie = triage.snapshot["state"][rows] == ord("Z")
    not_useful = 1.0 - triage.inference.posterior[rows, USEFUL]
    return np.lexsort((triage.snapshot["pid"][rows], -not_useful, ~zombie, -np.where(action != 0, saved, 0.0),
                       action == 0))


def veto_rule(reason: str) -> str:
    """The rule of a ``protected_by`` reason, without its detail (one
    ``protected pattern`` for every pattern)."""
    return next((prefix for prefix, _ in VETO_KEYS if reason.startswith(prefix)), reason)


def _counts(values) -> dict[str, int]:
    names, counts = np.unique(np.asarray(values, dtype=str), return_counts=True)
    return dict(sorted(zip(names.tolist(), counts.tolist()), key=lambda kv: (-kv[1], kv[0])))


def select_rows(snapshot: Snapshot, *, uids: set[int] | None, kernel_threads: bool,
                sort: str, reverse: bool = False, triage=None, every_field: bool = False,
                tree: bool = False, fields: tuple[str, ...] | None = None) -> ScanView:
    """Filter by user and kernel-thread flag, then sort, all on columns.

    With a ``triage`` (same rows as ``snapshot``) the verdict fields join the
    process fields; ``every_field`` computes all of them (for JSON), or only
    ``fields`` (and the sort key) when given, instead of only those the table
    (or the tree) shows; for JSON, the nested fields come as their JSON text.
    """
    keep = np.ones(len(snapshot), dtype=bool)
    hidden = 0
    if not kernel_threads:
        keep &= ~snapshot["kernel_thread"]
        hidden = int(snapshot["kernel_thread"].sum())
    if uids is not None:
        keep &= np.isin(snapshot["uid"], list(uids))
    table = TRIAGE_TABLE if triage is not None else RAW_TABLE
    if every_field:
        wanted = None if fields is None else [n for n in FIELDS_BY_NAME if n in {*fields, sort}]
    else:
        wanted = sorted(set(table) | {sort} | (TREE_COLUMNS if tree else set()))
    chosen = snapshot.take(keep)
    columns = process_columns(chosen, None if wanted is None else
                              [n for n in wanted if n in PROCESS_FIELD_NAMES])
    recommended = protected = withheld = None
    if triage is not None:
        verdicts = verdict_columns(triage, None if wanted is None else
                                   [n for n in wanted if n not in PROCESS_FIELD_NAMES], json_text=every_field)
        columns |= {k: v[keep] for k, v in verdicts.items()}
        from pt.config import ACTIONS
        recommended = _counts(np.asarray(ACTIONS)[triage.decision.action[keep]])
        reasons = triage.protected_by[keep]
        protected = _counts([veto_rule(r) for r in reasons[np.not_equal(reasons, None)]])
        if getattr(triage, "kill_gate", None):
            withheld = {"count": int(np.equal(triage.decision.demoted[keep], "bound").sum()),
                        "why": triage.kill_gate}
    if sort == "attention" and triage is not None:
        order = attention_order(triage, np.flatnonzero(keep))
        order = order[::-1] if reverse else order
    else:
        order = _sort_order(columns, chosen["pid"], sort, reverse)
    return ScanView(chosen.take(order), {k: v[order] for k, v in columns.items()}, table,
                    total=len(snapshot), hidden_kernel_threads=hidden, sort=sort,
                    recommended=recommended, protected=protected, kill_withheld=withheld)

