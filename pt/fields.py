"""The one table of process fields: it drives the Rich columns, the JSON keys
and (later) the Parquet schema, so the three never disagree (glances
``fields_description`` style).

Each :class:`Field` names its unit in its name where it has one
(``cpu_time_s``, ``rss_bytes``) and knows how to compute its column from a
:class:`~pt.collect.snapshot.Snapshot` and how to show one value to a person.
"""
from __future__ import annotations

import pwd
from dataclasses import dataclass
from typing import Callable

import numpy as np

from pt.collect.snapshot import Snapshot
from pt.config import ACTIONS, CATEGORICAL_LEVELS, CLASSES
from pt.formatting import format_bytes, format_duration, format_share

# --- derived columns ------------------------------------------------------------

def tty_names(tty_nr: np.ndarray) -> np.ndarray:
    """Map ``stat`` tty_nr device numbers to names like ``ps``: ``pts/3``, ``tty1``, ``None``.

    Decoding follows ``new_decode_dev`` (major bits 8-19, minor bits 0-7 and
    20-31); pseudo-terminals are majors 136-143 (Documentation/admin-guide/devices.txt).
    """
    out = np.empty(len(tty_nr), dtype=object)
    out[:] = None
    unique, inverse = np.unique(tty_nr, return_inverse=True)
    for i, dev in enumerate(unique.tolist()):
        if dev == 0:
            continue
        major = (dev >> 8) & 0xFFF
        minor = (dev & 0xFF) | ((dev >> 12) & 0xFFF00)
        if 136 <= major <= 143:
            name = f"pts/{minor + (major - 136) * 256}"
        elif major == 4:
            name = f"tty{minor}" if minor < 64 else f"ttyS{minor - 64}"
        elif major == 5 and minor == 0:
            name = "tty"
        else:
            name = f"{major}:{minor}"
        out[inverse == i] = name
    return out


def user_names(uid: np.ndarray) -> np.ndarray:
    """Login names for uids (one passwd lookup per distinct uid); the uid as text
    when it has no entry, ``None`` where the uid is unknown (-1)."""
    unique, inverse = np.unique(uid, return_inverse=True)
    names = np.empty(len(unique), dtype=object)
    for i, u in enumerate(unique.tolist()):
        if u < 0:
            names[i] = None
            continue
        try:
            names[i] = pwd.getpwuid(u).pw_name
        except KeyError:
            names[i] = str(u)
    return names[inverse]


def cpu_share(snapshot: Snapshot) -> np.ndarray:
    """Lifetime CPU share: CPU seconds per second alive (1.0 = one full CPU)."""
    elapsed = snapshot["elapsed_s"]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = snapshot["cpu_time_s"] / elapsed
    return np.where(elapsed > 0, share, 0.0)


def rss_share(snapshot: Snapshot) -> np.ndarray:
    """Resident memory as a share of the machine's RAM (``MemTotal``); NaN
    where the total is unknown."""
    total = float(snapshot.host.mem_total_bytes)
    return snapshot["rss_bytes"] / total if total > 0 else np.full(len(snapshot), np.nan)


def command_lines(snapshot: Snapshot) -> np.ndarray:
    """Argument vectors as lists; empty for kernel threads and zombies, None if unreadable."""
    return np.fromiter((None if argv is None else list(argv) for argv in snapshot["cmdline"]),
                       dtype=object, count=len(snapshot))


def command_strings(snapshot: Snapshot) -> np.ndarray:
    """What ``ps`` shows as COMMAND: the joined argv, or ``[comm]`` when argv is empty."""
    return np.fromiter((" ".join(argv) if argv else f"[{comm}]"
                        for argv, comm in zip(snapshot["cmdline"], snapshot["comm"])),
                       dtype=object, count=len(snapshot))


def state_letters(snapshot: Snapshot) -> np.ndarray:
    """The one-letter scheduler state (man 5 proc, stat field 3) as text."""
    return snapshot["state"].view("S1").astype("U1")


# --- the table -------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    """One process attribute.

    ``name`` is the JSON key and column name; ``dtype`` the Arrow-style type;
    ``unit`` the unit its values are in; ``header`` the Rich column title
    (``None``: machine-readable only); ``compute`` builds the column from a
    snapshot; ``show`` renders one value for a person; ``descending`` is the
    natural sort direction (biggest first for amounts).
    """

    name: str
    dtype: str
    unit: str
    description: str
    compute: Callable[[Snapshot], np.ndarray]
    header: str | None = None
    show: Callable[[object], str] = str
    descending: bool = False


def _raw(name: str) -> Callable[[Snapshot], np.ndarray]:
    return lambda snap: snap[name]


FIELDS: tuple[Field, ...] = (
    Field("pid", "int32", "", "process id", _raw("pid"), header="PID"),
    Field("ppid", "int32", "", "parent process id", _raw("ppid"), header="PPID"),
    Field("pgid", "int32", "", "process group id", _raw("pgid")),
    Field("sid", "int32", "", "session id", _raw("sid")),
    Field("uid", "int64", "", "real user id (-1 if unreadable)", _raw("uid")),
    Field("user", "string", "", "login name of the real user", lambda s: user_names(s["uid"]),
          header="USER", show=lambda v: "?" if v is None else v),
    Field("state", "string", "", "scheduler state letter (R S D Z T t I X)", state_letters,
          header="S"),
    Field("comm", "string", "", "kernel command name (up to 15 bytes)", _raw("comm")),
    Field("cmdline", "list<string>", "", "argument vector; empty for kernel threads and zombies",
          command_lines),
    Field("cpu_time_s", "float64", "s", "user + system CPU time", _raw("cpu_time_s"),
          header="CPU", show=format_duration, descending=True),
    Field("cpu_share", "float64", "ratio", "lifetime CPU share (CPU seconds per second alive)",
          cpu_share, header="CPU%", show=format_share, descending=True),
    Field("rss_bytes", "int64", "bytes", "resident memory", _raw("rss_bytes"), header="RSS",
          show=format_bytes, descending=True),
    Field("rss_share", "float64", "ratio", "resident memory as a share of the machine's RAM (MemTotal; "
          "null if unknown)", rss_share, descending=True),
    Field("swap_bytes", "int64", "bytes", "memory swapped out (status VmSwap; -1 if unknown: no VmSwap line, "
          "unreadable, or the psutil collector)", _raw("swap_bytes"), descending=True),
    Field("elapsed_s", "float64", "s", "time since the process started", _raw("elapsed_s"),
          header="AGE", show=format_duration, descending=True),
    Field("start_time", "float64", "unix_s", "start time, unix seconds", _raw("start_time")),
    Field("start_ticks", "uint64", "ticks", "start time in clock ticks since boot (identity)",
          _raw("start_ticks")),
    Field("vsize_bytes", "int64", "bytes", "virtual memory size", _raw("vsize_bytes"),
          descending=True),
    Field("threads", "int32", "", "number of threads", _raw("threads"), descending=True),
    Field("nice", "int32", "", "nice value (-20..19)", _raw("nice")),
    Field("tty", "string", "", "controlling terminal, null if none", lambda s: tty_names(s["tty_nr"]),
          header="TTY", show=lambda v: "?" if v is None else v),
    Field("kernel_thread", "bool", "", "true for kernel threads", _raw("kernel_thread")),
    Field("command", "string", "", "argv joined with spaces, or [comm] when argv is empty",
          command_strings, header="COMMAND"),
)

# --- verdict fields: computed from a pt.triage.Triage (same rows as its snapshot) ---
# The model's modules are imported when a verdict field is computed: `pt scan
# --raw` shows process fields only and never needs them.

def _ledger():
    from pt.infer import ledger
    return ledger


def _objects(values) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


class _PerRow:
    """A verdict column of nested, JSON-only values, built from whole columns
    for just the rows wanted (``pt explain``: one): ``fn(t, rows)`` returns
    one value per row of ``rows``; ``text(t, rows)``, when given, returns
    their JSON text straight from the matrices (``pt scan --json``, every row)."""

    def __init__(self, fn: Callable, text: Callable | None = None):
        self.fn, self._text = fn, text

    @staticmethod
    def _rows(t, rows) -> np.ndarray:
        return np.arange(len(t)) if rows is None else np.asarray(rows, dtype=np.intp)

    def __call__(self, t, rows=None) -> np.ndarray:
        return _objects(self.fn(t, self._rows(t, rows)))

    def text(self, t, rows=None):
        """The column as :class:`pt.json_columns.JSONText`: the same JSON
        ``json.dumps`` writes of the values."""
        from pt.json_columns import as_text, value_pieces
        rows = self._rows(t, rows)
        return as_text(self._text(t, rows) if self._text else value_pieces(self.fn(t, rows)))


_per_row = _PerRow


def _posterior(t, rows) -> list[dict]:
    return [dict(zip(CLASSES, p)) for p in np.round(t.inference.posterior[rows], 6).tolist()]


def _posterior_text(t, rows) -> list[str]:
    from pt.json_columns import float_pieces, objects
    p = t.inference.posterior[rows]
    return objects(len(rows), CLASSES, [float_pieces(p[:, k], 6, null=False) for k in range(len(CLASSES))])


def _expected_loss(t, rows) -> list[dict]:
    loss = t.decision.expected_loss[rows]
    return [dict(zip(ACTIONS, v)) for v in np.where(np.isfinite(loss), np.round(loss, 4), None).tolist()]


def _expected_loss_text(t, rows) -> list[str]:
    from pt.json_columns import float_pieces, objects
    loss = t.decision.expected_loss[rows]
    return objects(len(rows), ACTIONS, [float_pieces(loss[:, k], 4) for k in range(len(ACTIONS))])


def _bounds(t, rows) -> list[dict]:
    lower = np.round(t.decision.posterior_lower[rows], 6).tolist()
    upper = np.round(t.decision.posterior_upper[rows], 6).tolist()
    return [{c: [lo, hi] for c, lo, hi in zip(CLASSES, los, his)} for los, his in zip(lower, upper)]


def _bounds_text(t, rows) -> list[str]:
    from pt.json_columns import float_pieces, objects
    lower, upper = t.decision.posterior_lower[rows], t.decision.posterior_upper[rows]
    return objects(len(rows), CLASSES, [objects(len(rows), None, [float_pieces(lower[:, k], 6, null=False),
                                                                 float_pieces(upper[:, k], 6, null=False)])
                                        for k in range(len(CLASSES))])


def _bits(t, rows) -> np.ndarray:
    """(rows, features) log2 Bayes factors, abandoned vs useful."""
    from pt.infer.posterior import ABANDONED, LN2, USEFUL
    terms = t.inference.terms[rows]
    return (terms[:, :, ABANDONED] - terms[:, :, USEFUL]) / LN2


def _bayes_factors(t, rows) -> list[dict]:
    from pt.infer.posterior import FEATURES as FEATURE_NAMES
    bits = _bits(t, rows)
    totals = np.round(bits.sum(axis=1), 4).tolist()
    seen = t.inference.observed[rows].tolist()
    return [{"abandoned_vs_useful_bits": total,
             "by_feature_bits": {f: b for f, b, s in zip(FEATURE_NAMES, row, row_seen) if s}}
            for total, row, row_seen in zip(totals, np.round(bits, 4).tolist(), seen)]


def _bayes_factors_text(t, rows) -> list[str]:
    from pt.infer.posterior import FEATURES as FEATURE_NAMES
    from pt.json_columns import float_pieces, string
    bits = _bits(t, rows)
    totals = float_pieces(bits.sum(axis=1), 4, null=False)
    row, feature = np.nonzero(t.inference.observed[rows])      # row-major: each row's features in order
    keys = [string(f) + ":" for f in FEATURE_NAMES]
    values = float_pieces(bits[row, feature], 4, null=False)
    pairs = list(map(str.__add__, [keys[f] for f in feature.tolist()], values))
    bounds = np.searchsorted(row, np.arange(len(rows) + 1)).tolist()
    return ['{"abandoned_vs_useful_bits":' + total + ',"by_feature_bits":{' + ",".join(pairs[a:b]) + "}}"
            for total, a, b in zip(totals, bounds[:-1], bounds[1:])]


def _reap_via(t) -> np.ndarray:
    """For zombies: the parent that must reap them, and how."""
    out = np.full(len(t), None, dtype=object)
    zombies = np.flatnonzero(t.snapshot["state"] == ord("Z"))
    parent_row = t.context.genealogy.parent_row
    for i in zombies.tolist():
        ppid, row = int(t.snapshot["ppid"][i]), int(parent_row[i])
        name = t.snapshot["comm"][row] if row >= 0 else "?"
        out[i] = (f"parent {ppid} ({name}) has not reaped it: a zombie holds only its pid; "
                  f"send the parent SIGCHLD, or end the parent so init reaps it")
    return out


def _window_share(t) -> np.ndarray:
    """Share of one CPU each process wanted during this scan's window (the
    window alone: the evidence may also count earlier scans)."""
    w = t.window
    demand = np.where(w.alive, w.ticks + np.maximum(w.wait_ticks, 0), 0)
    return np.minimum(demand, w.window_ticks) / max(w.window_ticks, 1)


def _subtree(t, column: int) -> np.ndarray:
    """One roll-up over each process and all its descendants (the whole
    machine's PPID forest, whatever rows are shown): 0 count, 1 CPU share in
    the window, 2 RSS bytes, 3 idle (no CPU in an observed window)."""
    idle = t.window.alive & (t.window.ticks == 0)
    values = np.stack([np.ones(len(t)), _window_share(t), t.snapshot["rss_bytes"].astype(np.float64),
                       idle.astype(np.float64)], axis=1)
    from pt import kernels
    total = kernels.subtree_sums(t.context.genealogy.parent_row, values)[:, column]
    own = values[:, column]
    return total if column in (1, 2) else np.rint(total - own).astype(np.int64)


def _zombie_children(t) -> np.ndarray:
    """Number of each process's children that have exited and are not reaped."""
    parent = t.context.genealogy.parent_row
    zombie = (t.snapshot["state"] == ord("Z")) & (parent >= 0)
    return np.bincount(parent[zombie], minlength=len(t)).astype(np.int64)


def _tree(t, which: int) -> np.ndarray:
    """Whole-tree recommendation (:func:`pt.act.trees.recommend`): 0 the
    action's name ('' for none), 1 the tree's size (0 for none)."""
    from pt.act.trees import recommend
    action, size = recommend(t)
    return np.where(size > 0, np.asarray(ACTIONS, dtype=object)[action], "") if which == 0 else size


def _recommendation(t) -> np.ndarray:
    """The action as a person reads it: a zombie's lands on its parent, which
    must reap it (``kill → 4241``: SIGCHLD to 4241, see ``reap_via``), a
    parent with unreaped zombies says so beside its own verdict (``keep ·
    reap 2``), and a root to act on as a whole tree says so (``kill tree
    (13 processes)``)."""
    from pt.act.trees import recommend
    out = np.asarray(ACTIONS, dtype=object)[t.decision.action]
    tree_action, tree_size = recommend(t)
    for i in np.flatnonzero(tree_size).tolist():
        out[i] = f"{ACTIONS[tree_action[i]]} tree ({tree_size[i]} processes)"
    for i in np.flatnonzero((t.snapshot["state"] == ord("Z")) & (t.decision.action != 0)).tolist():
        out[i] = f"{out[i]} → {int(t.snapshot['ppid'][i])}"
    count = _zombie_children(t)
    for i in np.flatnonzero(count).tolist():
        out[i] = f"{ACTIONS[t.decision.action[i]]} · reap {count[i]}"
    return out


def _identity(t) -> np.ndarray:
    from pt.act.identity import identity_string
    boot = t.snapshot.host.boot_id
    return _objects([identity_string(boot, s, p) for s, p in zip(t.snapshot["start_ticks"].tolist(),
                                                                 t.snapshot["pid"].tolist())])


VERDICT_FIELDS: tuple[Field, ...] = (
    Field("class", "string", "", "most probable class", lambda t: np.asarray(CLASSES, dtype=object)[
        t.inference.log_posterior.argmax(axis=1)], header="CLASS"),
    Field("p_class", "float64", "probability", "posterior probability of that class",
          lambda t: t.inference.posterior.max(axis=1), header="P", show=lambda v: f"{v:.2f}"),
    Field("action", "string", "", "recommended action: least expected loss, kept only if robust "
          "to the prior, within the FDR budget and not vetoed",
          lambda t: np.asarray(ACTIONS, dtype=object)[t.decision.action]),
    Field("recommendation", "string", "", "the action as the table shows it: a zombie's names the "
          "parent that must reap it (kill → PPID: SIGCHLD to the parent), a parent with unreaped "
          "zombie children adds 'reap N', a whole-tree decision reads 'kill tree (N processes)'",
          _recommendation, header="ACTION"),
    Field("tree_action", "string", "", "the action for this process and all its descendants as one "
          "decision ('' for none): set where it is abandoned, pt would kill or pause it, and its "
          "descendants all idled, are its owner's and are not protected", lambda t: _tree(t, 0)),
    Field("tree_size", "int64", "", "processes in that tree decision, the root included (0 for none)",
          lambda t: _tree(t, 1), descending=True),
    Field("zombie_children", "int64", "", "children that have exited and are not reaped yet",
          _zombie_children, descending=True),
    Field("confidence", "float64", "ratio", "posterior concentration, 1 - normalised entropy",
          lambda t: _ledger().confidence(t.inference.posterior), header="CONF",
          show=lambda v: _ledger().confidence_label(v)),
    Field("evidence_glyphs", "string", "", "strongest evidence: glyph and direction (+ abandoned)",
          lambda t: _ledger().glyph_column(t.inference), header="EVIDENCE"),
    Field("cpu_window_share", "float64", "ratio", "share of one CPU used during the scan window",
          _window_share, header="NOW", show=format_share, descending=True),
    Field("descendants", "int64", "", "number of descendants (children, their children, ...)",
          lambda t: _subtree(t, 0), header="DESC", descending=True),
    Field("subtree_cpu", "float64", "ratio", "share of one CPU used in the scan window by the "
          "process and all its descendants", lambda t: _subtree(t, 1), header="TREE CPU",
          show=format_share, descending=True),
    Field("subtree_rss", "int64", "bytes", "resident memory of the process and all its descendants",
          lambda t: _subtree(t, 2).astype(np.int64), header="TREE RSS", show=format_bytes,
          descending=True),
    Field("idle_descendants", "int64", "", "descendants that used no CPU in the scan window",
          lambda t: _subtree(t, 3), header="IDLE", descending=True),
    Field("attention", "float64", "loss", "expected loss saved by the recommended action over keep",
          lambda t: t.decision.expected_loss[:, 0] - np.take_along_axis(
              t.decision.expected_loss, t.decision.action[:, None], axis=1)[:, 0], descending=True),
    Field("why", "string", "", "the strongest reasons, with their weight in bits",
          _per_row(lambda t, rows: _ledger().whys(t.inference, t.evidence, rows))),
    Field("posterior", "struct<float64>", "probability", "P(class | evidence) for the four classes",
          _per_row(_posterior, _posterior_text)),
    Field("posterior_bounds", "struct<list<float64>>", "probability",
          "lower and upper posterior over the policy's prior intervals (robust Bayes)",
          _per_row(_bounds, _bounds_text)),
    Field("expected_loss", "struct<float64>", "loss", "expected loss of every action (null: unavailable)",
          _per_row(_expected_loss, _expected_loss_text)),
    Field("bayes_factors", "struct", "bits", "log2 Bayes factors, abandoned vs useful, total and per feature",
          _per_row(_bayes_factors, _bayes_factors_text)),
    Field("evidence", "list<struct>", "", "the ledger: every feature's observed value and per-class "
          "log-likelihood (pt scan --json: with --ledger only)",
          _per_row(lambda t, rows: _ledger().ledgers(t.inference, t.evidence, rows))),
    Field("lfdr", "float64", "probability", "local false discovery rate of a kill, P(useful | x)",
          lambda t: t.decision.lfdr),
    Field("log_odds", "float64", "nats", "log posterior odds abandoned : useful", lambda t: t.decision.log_odds),
    Field("sprt_boundary", "float64", "nats", "two-class SPRT boundary: log odds abandoned : "
          "useful above which kill beats keep between those two classes (null: never / always)",
          lambda t: t.decision.sprt_boundary),
    Field("dependency_impact", "float64", "", "kill-cost multiplier minus one (sockets, clients, children)",
          lambda t: t.decision.impact),
    Field("demoted", "string", "", "why the least-loss action was not recommended (robust, fdr, bound, veto, held)",
          lambda t: t.decision.demoted),
    Field("protected_by", "string", "", "the hard veto protecting the process, null if none",
          lambda t: t.protected_by),
    Field("reap_via", "string", "", "for a zombie: the parent that must reap it, and how", _reap_via),
    Field("command_category", "string", "", "command category from the rules file",
          lambda t: np.asarray(CATEGORICAL_LEVELS["command"], dtype=object)[t.context.command_category]),
    Field("cwd_category", "string", "", "working-directory category",
          lambda t: np.asarray(CATEGORICAL_LEVELS["cwd"], dtype=object)[t.context.cwd_category]),
    Field("identity", "string", "", "boot_id:start_ticks:pid, unique across the machine's life", _identity),
)

FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS + VERDICT_FIELDS}
#: Columns of the plain process table and of the triage table, in order.
RAW_TABLE = tuple(f.name for f in FIELDS if f.header)
TRIAGE_TABLE = ("pid", "user", "state", "cpu_window_share", "rss_bytes", "elapsed_s", "class",
                "p_class", "recommendation", "evidence_glyphs", "command")


def process_columns(snapshot: Snapshot, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """The named process fields' columns for ``snapshot`` (all by default)."""
    fields = FIELDS if names is None else [FIELDS_BY_NAME[n] for n in names]
    return {f.name: f.compute(snapshot) for f in fields}


def verdict_columns(triage, names: list[str] | None = None, rows: np.ndarray | None = None,
                    json_text: bool = False) -> dict[str, np.ndarray]:
    """The named verdict fields' columns for a :class:`pt.triage.Triage` (all
    by default), for every process or only ``rows`` (row-by-row fields are
    then built for those rows alone). With ``json_text`` the nested,
    JSON-only fields come as their JSON text (:class:`pt.json_columns.JSONText`)."""
    fields = VERDICT_FIELDS if names is None else [FIELDS_BY_NAME[n] for n in names]
    out = {}
    for f in fields:
        if isinstance(f.compute, _PerRow):
            out[f.name] = f.compute.text(triage, rows) if json_text else f.compute(triage, rows)
        else:
            out[f.name] = f.compute(triage) if rows is None else f.compute(triage)[rows]
    return out


# --- deep-scan fields: computed from a pt.deep.DeepScan, one value per watched candidate ---
# The deep_series table of the lake has these columns (float64 ones null where
# not finite), and `pt deep-scan --json` shows the same values per candidate.

def change_at_s(d) -> np.ndarray:
    """Seconds into the watch of each candidate's most probable CPU change (NaN: none)."""
    times, tau = d.series.times, d.regime.tau
    if not len(tau) or not len(times):
        return np.full(len(tau), np.nan)
    return np.where(tau >= 0, times[np.minimum(tau + 1, len(times) - 1)] - times[0], np.nan)


DEEP_FIELDS: tuple[Field, ...] = (
    Field("samples", "int32", "", "known sampling intervals", lambda d: d.counts.samples),
    Field("interval_s", "float64", "s", "sampling interval", lambda d: np.full(len(d), d.series.interval_s)),
    Field("settled_at_s", "float64", "s", "when VOI stopped the sampling (null: watched to the end)",
          lambda d: d.settled_at_s),
    Field("timed_out", "bool", "", "still undecided at the time bound", lambda d: d.timed_out),
    Field("net_voi", "float64", "loss", "last net value of watching longer", lambda d: d.voi),
    Field("cpu_ticks", "int64", "ticks", "CPU ticks used over the deep scan", lambda d: d.counts.cpu_ticks),
    Field("elapsed_ticks", "int64", "ticks", "ticks observed over the deep scan", lambda d: d.counts.elapsed_ticks),
    Field("io_syscalls", "int64", "", "IO syscalls over the deep scan (-1: unreadable)",
          lambda d: d.counts.io_syscalls),
    Field("p_change", "float64", "probability", "two-regime change-point P(change) of the CPU share",
          lambda d: d.regime.p_change),
    Field("change_at_s", "float64", "s", "most probable change time, seconds into the scan", change_at_s),
    Field("share_before", "float64", "share", "CPU share before the change", lambda d: d.regime.share_before),
    Field("share_after", "float64", "share", "CPU share after the change", lambda d: d.regime.share_after),
    Field("lr_stopped", "float64", "", "likelihood ratio busy→idle vs no change", lambda d: d.regime.lr_stopped),
    Field("lr_started", "float64", "", "likelihood ratio idle→busy vs no change", lambda d: d.regime.lr_started),
    Field("io_stopped_s", "float64", "s", "last IO, seconds into the scan, when IO stopped",
          lambda d: d.notes.io_stopped_s),
    Field("io_change_prob", "float64", "probability", "BOCPD: an IO rate change within the last samples",
          lambda d: d.notes.io_change_prob),
    Field("cpu_trend_per_s", "float64", "share/s", "Kalman local-linear-trend slope of the CPU share",
          lambda d: d.notes.cpu_trend_per_s),
    Field("cpu_trend_sd", "float64", "share/s", "its standard deviation", lambda d: d.notes.cpu_trend_sd),
    Field("ctx_branching", "float64", "", "Hawkes branching ratio of scheduling events (schedstat timeslices)",
          lambda d: d.notes.ctx_branching),
    Field("rss_slope_mb_min", "float64", "MB/min", "sustained RSS slope (Theil-Sen, smaller of the two halves)",
          lambda d: d.growth.slope_mb_min),
    Field("rss_slope_sd_mb_min", "float64", "MB/min", "its standard error", lambda d: d.growth.sd_mb_min),
    Field("memory_pressure", "float64", "share", "memory PSI some over the watch (null: no PSI)",
          lambda d: d.growth.pressure),
    Field("quick_action", "string", "", "the quick scan's action",
          lambda d: np.asarray(ACTIONS, dtype=object)[d.quick.decision.action[d.rows]]),
    Field("deep_action", "string", "", "the action after the deep scan",
          lambda d: np.asarray(ACTIONS, dtype=object)[d.decision.action]),
)
#: Per-class deep columns, ``<prefix>__<class>``: (prefix, unit, description
#: with {k} for the class, the (candidates, classes) matrix of a DeepScan).
DEEP_CLASS_FIELDS: tuple[tuple[str, str, str, Callable], ...] = (
    ("post", "probability", "deep posterior P({k} | series)", lambda d: d.inference.posterior),
    ("ll__cpu_regime", "nat", "CPU regime log-likelihood term under {k}", lambda d: d.regime.terms),
    ("ll__memory_growth", "nat", "memory growth log-likelihood term under {k}", lambda d: d.growth.terms),
)


def deep_columns(d) -> dict[str, np.ndarray]:
    """Every :data:`DEEP_FIELDS` column of a deep scan, by name."""
    return {f.name: f.compute(d) for f in DEEP_FIELDS}
