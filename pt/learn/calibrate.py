"""Calibration from the lake: the labelled record, and what it teaches.

One label per process identity (:data:`pt.learn.labels.ONE_LABEL_SQL`) is
joined with the verdict it follows up (the scan named by
``verdict_run_id``, else the latest decision before the label) and with that
scan's evidence (CPU ticks of the window). From that record:

- the class prior, updated conjugately (:func:`pt.learn.model.class_prior_update`);
- per command category and class, the Beta of the CPU-window evidence,
  shrunk toward the shipped value (:func:`pt.learn.model.beta_binomial_map`),
  for groups with at least :data:`MIN_GROUP` labelled processes;
- per command category and class, the Gamma on the hazard of ending,
  updated conjugately with the lifetimes seen (ended or still running);
- the PAC-Bayes bound on the false-kill rate of the shadow record: of the
  processes pt would have killed, how many turned out useful;
- the reliability of the posterior, per bin.

The record is what pt followed up and what people labelled, not a random
sample of processes: docs/learning.md says what that means for the numbers.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from pt.config import CATEGORICAL_LEVELS, CLASSES, PAIR_DOMAINS
from pt.learn import model, ppc
from pt.learn.labels import ONE_LABEL_SQL

#: Labelled processes a (category, class) group needs before its CPU-window
#: Beta is learned.
MIN_GROUP = 5
#: Labels that make a kill false.
WANTED = ("useful", "useful_bad")

#: Per identity: when pt itself ended it (a journalled kill or restart that
#: took: its lifetime is cut short, not ended), when a later scan found it
#: gone (the middle of the interval between the last scan that saw it and the
#: one that did not), and the last time anything saw it alive.
LIFE_SQL = """
    SELECT boot_id, pid, start_ticks,
           min(ts) FILTER (WHERE coalesce(observed_by, 'journal') = 'journal' AND action IN ('kill', 'restart')
                           AND result IN ('done', 'exited')) AS killed_ts,
           max(ts - (after_s - seen_until_s) / 2) FILTER (WHERE observed_by = 'rescan' AND result = 'exited')
               AS exit_ts,
           max(ts) FILTER (WHERE NOT (observed_by = 'rescan' AND result = 'exited')) AS alive_ts
    FROM outcomes GROUP BY ALL
"""

RECORD_SQL = f"""
    WITH one AS ({ONE_LABEL_SQL}),
    exact AS (
        SELECT o.boot_id, o.pid, o.start_ticks, o.label, o.observed_by, o.conflict,
               d.run_id AS verdict_run, d.ts AS verdict_ts, d.action AS verdict_action, d.lfdr,
               d.command_category, __HOST__ AS host
        FROM one o JOIN decisions d
          ON d.run_id = o.verdict_run_id AND d.boot_id = o.boot_id AND d.pid = o.pid
         AND d.start_ticks = o.start_ticks),
    latest AS (
        SELECT o.boot_id, o.pid, o.start_ticks, o.label, o.observed_by, o.conflict,
               d.run_id AS verdict_run, d.ts AS verdict_ts, d.action AS verdict_action, d.lfdr,
               d.command_category, __HOST__ AS host
        FROM (SELECT * FROM one WHERE verdict_run_id IS NULL) o ASOF JOIN decisions d
          ON o.boot_id = d.boot_id AND o.pid = d.pid AND o.start_ticks = d.start_ticks AND o.ts >= d.ts)
    SELECT r.label, r.observed_by, r.conflict, r.verdict_action, r.lfdr, r.command_category,
           f.cpu_ticks, f.window_ticks,
           coalesce(l.killed_ts, l.exit_ts, l.alive_ts) - (r.verdict_ts - f.age_s) AS lived_s,
           l.killed_ts IS NULL AND l.exit_ts IS NOT NULL AS ended, r.host
    FROM (SELECT * FROM exact UNION ALL SELECT * FROM latest) r
    LEFT JOIN proc_features f
      ON f.run_id = r.verdict_run AND f.boot_id = r.boot_id AND f.pid = r.pid AND f.start_ticks = r.start_ticks
    LEFT JOIN ({LIFE_SQL}) l ON l.boot_id = r.boot_id AND l.pid = r.pid AND l.start_ticks = r.start_ticks
"""


@dataclass
class Record:
    """The labelled record, one entry per process identity (numpy columns)."""

    label: np.ndarray            # class names
    observed_by: np.ndarray
    conflict: np.ndarray         # bool: its labels disagree
    verdict_action: np.ndarray
    lfdr: np.ndarray             # P(useful | x) at the verdict
    category: np.ndarray
    cpu_ticks: np.ndarray        # -1 where unknown
    window_ticks: np.ndarray
    lived_s: np.ndarray          # seconds from its start to its end (ended) or last sight; nan unknown
    ended: np.ndarray            # bool: a later scan found it gone
    unmatched: int = 0           # labels with no verdict to join
    host: np.ndarray | None = None   # host names (a fleet read; None for files written without one)

    def __len__(self) -> int:
        return len(self.label)


def read_record(lake) -> Record:
    """The labelled record of an open :class:`pt.telemetry.duck.Lake` (with
    each process's host when the lake was opened for the whole fleet)."""
    fleet = lake.hosts is None
    _, rows = lake.query(RECORD_SQL.replace("__HOST__", "d.host" if fleet else "NULL::VARCHAR"))
    labelled = lake.query(f"SELECT count(*) FROM ({ONE_LABEL_SQL})")[1][0][0]
    cols = list(zip(*rows)) if rows else [()] * 11

    def arr(i, dtype, fill=None):
        values = [fill if v is None else v for v in cols[i]]
        return np.asarray(values, dtype=dtype) if values else np.zeros(0, dtype)

    lfdr = arr(4, np.float64, np.nan)
    lfdr[~((lfdr >= 0) & (lfdr <= 1))] = np.nan          # not a probability: a damaged or forged row, unknown
    return Record(arr(0, object), arr(1, object), arr(2, bool, False), arr(3, object),
                  lfdr, arr(5, object, "unknown"), arr(6, np.int64, -1),
                  arr(7, np.int64, -1), arr(8, np.float64, np.nan), arr(9, bool, False),
                  unmatched=int(labelled) - len(rows), host=arr(10, object, "") if fleet else None)


def last_verdict(lake_dir, target: dict) -> tuple[dict | None, list[str]]:
    """The latest recorded verdict about ``target`` (pid, start, boot from
    :func:`pt.telemetry.duck.parse_target`; a bare pid of a live process means
    that process) and the labels people already gave it."""
    from pt.act.identity import read_identity
    from pt.telemetry import duck

    pid, start, boot = target["pid"], target["start"], target["boot"]
    if start is None:
        live = read_identity(pid) if 0 < pid < 2**22 else None
        if live is not None:
            start, boot = live.start_ticks, live.boot_id
    lake = duck.open_lake(lake_dir, tables=("decisions", "outcomes"), macros=False)
    cols, rows = lake.query(
        "SELECT run_id, ts, boot_id, pid, start_ticks, uid, action, class FROM decisions "
        "WHERE pid = $pid AND ($start IS NULL OR start_ticks = $start) AND ($boot IS NULL OR boot_id = $boot) "
        "ORDER BY ts DESC, run_id DESC LIMIT 1", {"pid": pid, "start": start, "boot": boot})
    if not rows:
        return None, []
    verdict = dict(zip(cols, rows[0]))
    _, earlier = lake.query(
        "SELECT label FROM outcomes WHERE observed_by = 'feedback' AND boot_id = $boot AND pid = $pid "
        "AND start_ticks = $start ORDER BY ts DESC LIMIT 1",
        {"boot": verdict["boot_id"], "pid": verdict["pid"], "start": verdict["start_ticks"]})
    return verdict, [r[0] for r in earlier]


def false_kill(record: Record, *, confidence: float, target: float, rows: np.ndarray | None = None) -> dict:
    """``data.pac_bayes``: the bound on P(useful | pt would kill), or why there
    is none; over the labels in ``rows`` (a boolean column; None: all)."""
    kills = record.verdict_action == "kill"
    if rows is not None:
        kills = kills & rows
    n = int(kills.sum())
    errors = int(np.isin(record.label[kills], WANTED).sum())
    bound = model.pac_bayes_bound(errors, n, confidence=confidence)
    needed = model.needed_n(target, confidence=confidence)
    out = {"false_kill_bound": bound, "confidence": confidence, "n": n, "false_kills": errors,
           "target": target, "needed": needed,
           "below_target": None if bound is None else bool(bound <= target)}
    if bound is None:
        out["note"] = (f"too few labelled kill verdicts for a bound: {n} of at least {model.MIN_N}; "
                       f"{needed} all-correct ones would put it below the target {target:g}")
    elif bound > target and needed is not None and n < needed:
        out["note"] = f"the bound needs at least {needed} labelled kill verdicts to reach {target:g}"
    return out


def calibrate(record: Record, shipped, *, confidence: float = 0.95, target: float = 0.05,
              bins: int = 10) -> dict:
    """Everything ``pt calibrate`` reports, and the learned overlay (``overlay``)."""
    counts = np.array([(record.label == c).sum() for c in CLASSES], dtype=np.float64)
    result: dict = {
        "labels": {"n": len(record), "by_class": dict(zip(CLASSES, counts.astype(int).tolist())),
                   "by_source": {s: int((record.observed_by == s).sum()) for s in ("feedback", "apply", "rescan")},
                   "conflicting": int(record.conflict.sum()), "without_verdict": record.unmatched},
        "pac_bayes": false_kill(record, confidence=confidence, target=target),
        "reliability": model.reliability(1 - record.lfdr[np.isfinite(record.lfdr)],
                                         np.isin(record.label[np.isfinite(record.lfdr)],
                                                 ("abandoned", "zombie")), bins),
        "overlay": None,
    }
    if not len(record):
        result["note"] = "no labelled outcomes yet: later scans, pt apply and pt feedback make them"
        return result
    prior, strength = model.class_prior_update(counts, np.asarray(shipped.class_prior))
    result["class_prior"] = {"shipped": dict(zip(CLASSES, shipped.class_prior)),
                             "learned": dict(zip(CLASSES, prior.tolist())), "strength": strength}
    by_category, groups = cpu_window_update(record, shipped)
    result["cpu_window"] = groups
    survival, result["survival"] = survival_update(record, shipped)
    if record.host is not None:
        result["fleet"] = fleet_update(record, shipped)
        mine = result["fleet"]["hosts"].get(result["fleet"]["this_host"])
        result["class_prior"]["learned"] = mine["learned"] if mine else result["fleet"]["fleet_prior"]
        result["pac_bayes"] = _fleet_bound(record, result["pac_bayes"], result["fleet"]["this_host"],
                                           confidence=confidence, target=target)
    result["ppc"] = ppc.check(record, _model_params(shipped))
    overlay = {"class_prior": result["class_prior"]["learned"]}
    if by_category:
        overlay["cpu_window"] = {"by_category": by_category}
    if survival:
        overlay["survival"] = {"by_category": survival}
    result["overlay"] = overlay
    return result


def _fleet_bound(record: Record, fleet: dict, host: str, *, confidence: float, target: float) -> dict:
    """The fleet's false-kill bound, or this host's own where it has one and
    it is larger: other hosts' right kills must not open the kill gate of a
    host whose own kills are often wrong. A host with too few kill labels for
    a bound of its own (below ``model.MIN_N``) still gets its own, exact one
    when its false kills contradict the fleet's bound (:func:`_contradicts`).
    ``this_host`` shows the host's own."""
    own = false_kill(record, confidence=confidence, target=target, rows=record.host == host)
    out = {**fleet, "scope": "fleet", "this_host": own}
    if own["false_kill_bound"] is not None and (fleet["false_kill_bound"] is None
                                                or own["false_kill_bound"] > fleet["false_kill_bound"]):
        out.update({k: own[k] for k in ("false_kill_bound", "n", "false_kills", "below_target", "needed")},
                   scope="this host")
        out.pop("note", None)
        if "note" in own:
            out["note"] = own["note"]
    elif own["false_kill_bound"] is None and fleet["false_kill_bound"] is not None \
            and _contradicts(own["false_kills"], own["n"], fleet["false_kill_bound"], confidence):
        k, n = own["false_kills"], own["n"]
        bound = model.exact_upper(k, n, confidence=confidence)
        out.update(false_kill_bound=bound, n=n, false_kills=k, below_target=bool(bound <= target),
                   scope="this host",
                   note=(f"this host's {k} false kills of {n} are unlikely at the fleet's bound "
                         f"{fleet['false_kill_bound']:.3g}: its own exact bound is used"))
    return out


def _contradicts(errors: int, n: int, rate: float, confidence: float) -> bool:
    """Whether ``errors`` or more false kills of ``n`` would happen with
    probability at most 1 - ``confidence`` at the false-kill ``rate`` (a
    one-sided binomial test): this host's record is not the fleet's."""
    from scipy import stats
    return n > 0 and errors > 0 and float(stats.binom.sf(errors - 1, n, rate)) <= 1.0 - confidence


def _index(values: np.ndarray, levels) -> np.ndarray:
    """Each value's position in ``levels``, -1 where it is not one of them."""
    levels = np.asarray(levels, dtype=object)
    order = np.argsort(levels)
    at = np.minimum(np.searchsorted(levels[order], values.astype(str)), len(levels) - 1) if len(values) \
        else np.zeros(0, np.int64)
    return np.where(levels[order][at] == values, order[at], -1)


def _groups(record: Record, usable: np.ndarray) -> tuple[np.ndarray, list[tuple[str, str]], np.ndarray]:
    """The (category, class) groups, in the order of the categories then the
    classes, with at least :data:`MIN_GROUP` ``usable`` labelled processes:
    (each process's group index, -1 outside them; the groups; their sizes)."""
    cats = CATEGORICAL_LEVELS["command"]
    cat, cls = _index(record.category, cats), _index(record.label, CLASSES)
    ok = usable & (cat >= 0) & (cls >= 0)
    key = cat * len(CLASSES) + cls
    sizes = np.bincount(key[ok], minlength=len(cats) * len(CLASSES))
    big = np.flatnonzero(sizes >= MIN_GROUP)
    index = np.full(len(sizes), -1)
    index[big] = np.arange(len(big))
    group = np.where(ok, index[np.where(ok, key, 0)], -1)
    return group, [(cats[i // len(CLASSES)], CLASSES[i % len(CLASSES)]) for i in big], sizes[big]


def cpu_window_update(record: Record, shipped) -> tuple[dict, list[dict]]:
    """Per command category and class with at least :data:`MIN_GROUP`
    labelled processes whose window was seen: the Beta of the CPU-window
    evidence shrunk toward the shipped value (the category's, else the
    class's), all groups fitted at once (:func:`pt.learn.model.beta_binomial_map_groups`).
    Returns the overlay entries and the report rows."""
    group, names, sizes = _groups(record, record.window_ticks > 0)
    if not names:
        return {}, []
    parents = np.array([shipped.by_category["cpu_window"].get(cat, {}).get(c, shipped.pairs["cpu_window"][c])
                        for cat, c in names], dtype=np.float64)
    sel = group >= 0
    fitted = model.beta_binomial_map_groups(group[sel], record.cpu_ticks[sel], record.window_ticks[sel], parents)
    by_category: dict = {}
    rows = []
    for (cat, c), size, parent, (a, b) in zip(names, sizes, parents.tolist(), fitted.tolist()):
        by_category.setdefault(cat, {})[c] = [a, b]
        rows.append({"category": cat, "class": c, "n": int(size), "shipped": parent, "learned": [a, b]})
    return by_category, rows


def _model_params(shipped):
    """(term, category, class) -> the shipped (a, b): the category's value,
    else the class's. The checks test the shipped model: the learned one is
    fitted to this very record, so a check of it on the same record could
    hardly fail."""
    def params(term: str, category: str, c: str) -> tuple[float, float]:
        return tuple(shipped.by_category[term].get(category, {}).get(c) or shipped.pairs[term][c])
    return params


def fleet_update(record: Record, shipped) -> dict:
    """``data.fleet``: every host's class prior shrunk toward the fleet's
    (:func:`pt.learn.model.fleet_prior`); this host's is the one learned.
    Labels from files written without a host count for the fleet as host ``""``."""
    from pt.telemetry.lake import host_name
    hosts = sorted(set(record.host.tolist()))
    counts = np.array([[((record.host == h) & (record.label == c)).sum() for c in CLASSES] for h in hosts],
                      dtype=np.float64).reshape(len(hosts), len(CLASSES))
    per_host, fleet, s_fleet, s_host = model.fleet_prior(counts, np.asarray(shipped.class_prior))
    return {"this_host": host_name(), "fleet_prior": dict(zip(CLASSES, fleet.tolist())),
            "strength_toward_shipped": s_fleet, "strength_toward_fleet": s_host,
            "hosts": {h: {"n": int(counts[i].sum()), "learned": dict(zip(CLASSES, per_host[i].tolist()))}
                      for i, h in enumerate(hosts)}}


def survival_update(record: Record, shipped) -> tuple[dict, list[dict]]:
    """Per command category and class with at least :data:`MIN_GROUP`
    labelled lifetimes: the conjugate update of the Gamma(a, rate b) on the
    hazard, a + (lifetimes that ended), b + (seconds lived, ended or not),
    starting from the shipped category value (else the class's). Returns the
    overlay entries and the report rows."""
    known = np.isfinite(record.lived_s) & (record.lived_s > 0)
    group, names, sizes = _groups(record, known)
    if not names:
        return {}, []
    sel = group >= 0
    ended = np.bincount(group[sel], record.ended[sel].astype(np.float64), minlength=len(names))
    exposure = np.bincount(group[sel], record.lived_s[sel], minlength=len(names))
    hi_a, hi_b = PAIR_DOMAINS["survival"][0][1], PAIR_DOMAINS["survival"][1][1]
    overlay: dict = {}
    rows = []
    for (category, c), size, e, t in zip(names, sizes, ended, exposure):
        parent = shipped.by_category["survival"].get(category, {}).get(c, shipped.pairs["survival"][c])
        a, b = model.gamma_hazard_update(parent, int(e), float(t))
        a, b = min(a, hi_a), min(b, hi_b)
        overlay.setdefault(category, {})[c] = [a, b]
        rows.append({"category": category, "class": c, "n": int(size), "ended": int(e),
                     "shipped": list(parent), "learned": [a, b]})
    return overlay, rows


def learned_section(result: dict, generation: int) -> dict:
    return {"generation": generation, "created_at": time.time(), "labels": result["labels"]["n"],
            "strength": result.get("class_prior", {}).get("strength"), "pac_bayes": result.get("pac_bayes"),
            "alpha_investing": result.get("alpha_investing")}
