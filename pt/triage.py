"""The quick-scan pipeline: collect → features → infer → decide, as one Run.

``triage()`` returns a :class:`Triage` holding every stage's columns, so the
table, ``explain``, ``--json`` and telemetry all render the same object.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from pt.collect import collect, early, start_window
from pt.collect._linux import WindowStart, procfs_root, snapshot_of
from pt.collect.snapshot import Activity, Snapshot, Window
from pt.config import ACTIONS, Policy, Priors, load_policy, load_priors
from pt.decide import stability
from pt.decide.loss import Decision, decide, dependency_impact
from pt.decide.vetoes import protected_by
from pt.features.categories import load_rules
from pt.features.quick import Context, build, read_observed, static_features
from pt.formatting import format_duration
from pt.infer import forest
from pt.infer import memory as rss_model
from pt.infer.ledger import LABELS
from pt.infer.posterior import FEATURES, Evidence, Inference, ModelTables, infer

#: The fields of a :class:`Triage` that ``on_posteriors`` is given, in its order.
POSTERIORS = ("window", "evidence", "context", "inference")

#: Extra idle time tried when asking "how much longer until pt changes its mind".
LATER_S = (600.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0)


@dataclass(frozen=True)
class Triage:
    """One quick scan, every stage kept: see the module docstring."""

    snapshot: Snapshot
    window: Window
    evidence: Evidence
    context: Context
    inference: Inference
    decision: Decision
    protected_by: np.ndarray
    priors: Priors
    policy: Policy
    at_s: float
    previous: np.ndarray | None = None
    memory_note: str | None = None
    kill_gate: str | None = None     # why kills are withheld (pt.learn.gate), or None
    activity: Activity | None = None
    rss_points: tuple[np.ndarray, np.ndarray] | None = None   # (times, bytes) (n, POINTS): earlier scans' and this one's

    def __len__(self) -> int:
        return len(self.snapshot)

    def posteriors(self) -> tuple:
        """``(window, evidence, context, inference)``, as ``triage(on_posteriors=...)`` gets them."""
        return tuple(getattr(self, name) for name in POSTERIORS)


def run_decision(inference: Inference, policy: Policy, context: Context,
                 protected: np.ndarray, previous: np.ndarray | None = None,
                 kill_gate: str | None = None) -> Decision:
    """The decision stage, for the scan and for its counterfactuals alike."""
    impact = dependency_impact(policy, context.listening, context.established,
                               context.genealogy.children, context.fd_count)
    return decide(inference, policy, impact=impact, available=context.available,
                  protected=np.not_equal(protected, None), previous=previous, kill_gate=kill_gate)


def observe(snapshot: Snapshot, path: str | os.PathLike, files: dict | None = None, rules=None):
    """What the scan reads besides the process table, by the snapshot's
    collector (``files``: :func:`~pt.collect._procfs.read_process_files` read
    already; ``rules``: the command categories, loaded already)."""
    if snapshot.host.collector == "psutil":
        from pt.collect._psutil import read_observed as read_portable
        return read_portable(snapshot)
    return read_observed(snapshot, path, rules=rules, files=files)


def triage(*, root: str | os.PathLike | None = None, window_s: float | None = None,
           at_s: float = 0.0, priors: Priors | None = None, policy: Policy | None = None,
           tables: ModelTables | None = None, on_snapshot=None, on_posteriors=None, on_verdicts=None,
           memory: str | os.PathLike | None = None, first=None) -> Triage:
    """Scan the machine and decide about every process.

    ``at_s`` evaluates the evidence as if that many more seconds had passed
    with no change (``pt scan --at``). ``on_snapshot(snapshot)``, if given, is
    called as soon as the process table is read, inside the CPU window: what
    it does there (imports the output will need, work started on a thread)
    costs no wall time while the window has time to spare.
    ``on_posteriors(window, evidence, context, inference)``, if given, is
    called once the posteriors are computed, before the decision (the
    telemetry writer encodes them meanwhile); none of them changes after.
    ``on_verdicts(triage)``, if given, is called as soon as the verdicts are
    decided, before the scan writes its memory and waits for its closed files
    (the telemetry writer starts a few ms sooner).
    ``memory``: the file of previous recommendations and counters
    (:mod:`pt.decide.stability`); the decision holds them within the
    policy's stability margin, earlier scans' counts extend the window
    (``stability.history_s``), and this scan's are written back. A
    hypothetical scan (``at_s``) neither reads nor writes it.
    ``first``: the procfs reads :func:`pt.collect.early.start` began (the
    table, the window's first reads and the process files, on a thread since
    the start of the run); without it they are started here (procfs), and
    what needs no snapshot is loaded while they run.
    """
    rules = None
    if first is None:
        first = early.start(root)          # None off procfs: the psutil collector reads below
    if first is not None:
        # What needs no snapshot is loaded while the reads run on their thread.
        path = procfs_root(first.root)
        try:
            priors = priors or load_priors()
            policy = policy or load_policy()
            tables = tables or ModelTables(priors)
            rules = load_rules()
            first.wait()
            snapshot = snapshot_of(path, first.table, first.clock)
            opened = WindowStart(snapshot, path, kept=(first.window_files, first.stack))
        except BaseException:
            first.close()
            raise
    else:
        path = procfs_root(root)
        snapshot = collect(path)
        opened = start_window(snapshot, path)
    # Everything up to opened.finish() runs inside the window: no extra wall time. Its kept
    # files and raised fd limit are given back if any of it fails (a broken policy file...).
    try:
        if on_snapshot is not None:
            on_snapshot(snapshot)
        priors = priors or load_priors()
        policy = policy or load_policy()
        tables = tables or ModelTables(priors)
        observed = observe(snapshot, path, first.files.result() if first is not None else None, rules)
        # What does not depend on the window is worked out while it runs.
        static = static_features(snapshot, observed)
        protected = protected_by(snapshot, static.genealogy, policy, observed.units.system_slice,
                                 cgroups=observed.units.cgroup, command_category=observed.command_category)
        from pt.learn.gate import kill_gate
        gate = kill_gate(policy)
        remembered, previous, note = None, None, None
        if memory is not None and not at_s:
            remembered = stability.load(memory, snapshot.host.boot_id)
            previous = remembered.previous(snapshot["pid"], snapshot["start_ticks"],
                                           memory_s=policy.stability.memory_s)
            note = remembered.note
    except BaseException:
        opened.close()
        raise
    window = opened.finish(policy.window_s if window_s is None else window_s, close_behind=True)
    activity, points = None, None
    if remembered is not None:
        activity = remembered.activity(window, snapshot["pid"], snapshot["start_ticks"], snapshot.host.clock_ticks,
                                       policy.stability.history_s, policy.stability.history_gap_s)
        points = _rss_points(remembered, snapshot, window, policy)
    evidence, context = build(snapshot, window, observed, activity, static)
    if points is not None:
        slope, sd, seen, span = rss_model.scan_slope(*points, snapshot.host.page_size)
        # Only the growth of an idle process speaks here: flat memory would say "useful" to every
        # spinner, and a busy process's growth is mostly its work (a compiler): the CPU and progress
        # terms judge both already (docs/model.md, Memory: "Across quick scans").
        seen &= (slope > 2 * sd) & (evidence.progress == 0)
        evidence = dataclasses.replace(evidence, growth_mb_s=np.where(seen, slope, np.nan),
                                       growth_sd_mb_s=np.where(seen, sd, np.nan),
                                       growth_span_s=np.where(seen, span, np.nan))
    activity = activity or window.activity()
    if at_s:
        evidence = evidence.later(at_s)
    inference = forest.couple(infer(evidence, tables), forest.edges(context.genealogy), priors.tree_coupling)
    if on_posteriors is not None:
        on_posteriors(window, evidence, context, inference)
    decision = run_decision(inference, policy, context, protected, previous, gate)
    t = Triage(snapshot, window, evidence, context, inference, decision, protected,
               priors, policy, at_s, previous, note, gate, activity, points)
    if on_verdicts is not None:
        on_verdicts(t)
    if memory is not None and not at_s:
        remember(t, memory)
    opened.close()                       # the kept files' release, done beside the model by now
    return t


def _rss_points(remembered: stability.Remembered, snapshot: Snapshot, window: Window, policy: Policy
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """Each process's RSS at the earlier scans remembered for it and now,
    the points this scan remembers (:func:`pt.decide.stability.next_points`:
    ``(times, bytes)``, ``(n, POINTS)``, oldest first), the snapshot's time on
    the boot clock; None when the window has no boot-clock close (a
    collector without counters)."""
    if window.totals is None:
        return None
    now = window.totals.closed_s - window.duration_s            # when the snapshot read the RSS
    times, rss = remembered.rss_points(snapshot["pid"], snapshot["start_ticks"], now, snapshot.host.clock_ticks,
                                       policy.stability.memory_s)
    here = np.asarray(snapshot["rss_bytes"], dtype=np.int64)
    return stability.next_points(times, rss, now, np.where((here >= 0) & window.alive, here, -1))


def remember(t: Triage, memory: str | os.PathLike, rows: np.ndarray | None = None,
             actions: np.ndarray | None = None) -> None:
    """Write this scan's recommendations to ``memory`` (``actions`` replacing
    those of ``rows``, as a deep scan's later verdicts do). A file that
    cannot be written is skipped: remembering is never worth failing a scan."""
    recommended = t.decision.action.copy()
    if rows is not None:
        recommended[rows] = actions
    try:
        stability.save(memory, t.snapshot.host.boot_id, t.snapshot["pid"], t.snapshot["start_ticks"],
                       recommended, t.window, t.activity, rss=t.rss_points)
    except OSError:
        pass


def _per_process_action(t: Triage, inference: Inference) -> np.ndarray:
    """Actions without the scan-wide FDR gate, which couples processes: a
    counterfactual for one process must not move because another's did."""
    policy = dataclasses.replace(t.policy, fdr_alpha=1.0)
    return run_decision(inference, policy, t.context, t.protected_by, t.previous, t.kill_gate).action


def mind_changers(t: Triage, tables: ModelTables | None = None) -> list[list[str]]:
    """Per process, what would change the recommendation (spec 7.3):

    - dropping one evidence item (that item alone decides it), and
    - more time passing with everything else unchanged (the first of
      :data:`LATER_S` at which the action differs).

    Both compare per-process decisions (robust to the prior, under the
    vetoes) without the scan-wide FDR gate.
    """
    tables = tables or ModelTables(t.priors)
    current = _per_process_action(t, t.inference)
    notes: list[list[str]] = [[] for _ in range(len(t))]
    for j, feature in enumerate(FEATURES):
        terms = t.inference.terms.copy()
        terms[:, j] = 0.0
        changed = _per_process_action(
            t, Inference.from_terms(terms, t.inference.observed, t.inference.log_prior))
        for i in np.flatnonzero((changed != current) & t.inference.observed[:, j]):
            notes[i].append(f"without the {LABELS[feature]} evidence: {ACTIONS[changed[i]]}")
    pending = np.ones(len(t), dtype=bool)
    for seconds in LATER_S:
        later = forest.couple(infer(t.evidence.later(seconds), tables), forest.edges(t.context.genealogy),
                              t.priors.tree_coupling)
        changed = _per_process_action(t, later)
        for i in np.flatnonzero(pending & (changed != current)):
            notes[i].append(f"after {format_duration(seconds)} more like this: {ACTIONS[changed[i]]}")
        pending &= changed == current
    return notes
