"""Earlier scans as evidence: what the lake's last runs saw of this boot's processes.

A scan sees memory at one moment and lives over its own window; the lake
has seen them every time pt ran. This module reads the process rows of the
last :data:`RUNS` committed runs of this boot — five columns of
``proc_samples``, with DuckDB over those runs' Parquet files only — and gives

- each current process identity ``(pid, start_ticks)`` its RSS across runs
  (with the current scan as the last point), for the same robust sustained
  slope and bounded term as the deep scan's watch (:mod:`pt.infer.memory`);
- the lives of earlier runs, so a respawn loop (the same command line reborn
  under the same parent after exit or a kill) is seen across runs
  (:func:`respawns`).

The lake is hostile: a missing, empty, unreadable or corrupt lake gives no
history and a note saying why, never an error; rows with impossible values
(negative RSS, pids out of range, non-finite times) are left out.
docs/model.md, "Memory" and "Lifecycle incidents", gives the cost.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Earlier runs read (the most recent ones): a day of scans every 30 minutes.
RUNS = 48
#: Pids are below this (``pid_max`` at most 2^22): larger ones are corrupt rows.
PID_MAX = 1 << 22
#: The columns read: numbers (as doubles: ticks and bytes are exact below 2^53) and two strings.
NUMERIC = ("ts", "pid", "ppid", "start_ticks", "rss_bytes")
#: A new life first seen older than this lived too long to be a respawn: a crash
#: loop's lives end within seconds, while a dev server's autoreloader (runserver,
#: uvicorn --reload, nodemon) restarts its app on each save and then serves for
#: minutes. An hourly scan sees a crashing life young, and a reloaded one rarely.
YOUNG_S = 60.0


@dataclass(frozen=True)
class History:
    """Process rows of earlier runs of this boot, oldest run first: ``run``
    (0.. runs-1) and ``ts`` per row, the stored columns, and ``cmd`` a
    63-bit hash of the stored (keyed) command-line hash, -1 for none.
    ``note`` says why there is none (None: read, possibly empty).
    ``age_s``: each row's age when its run saw it (from the run's boot time
    and clock ticks; NaN unknown), None when no run recorded them."""

    ts: np.ndarray
    run: np.ndarray
    pid: np.ndarray
    ppid: np.ndarray
    start_ticks: np.ndarray
    rss_bytes: np.ndarray
    cmd: np.ndarray
    runs: int
    note: str | None = None
    age_s: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pid)

    @classmethod
    def empty(cls, note: str | None = None) -> History:
        z = np.zeros(0)
        return cls(z, z.astype(np.int64), z.astype(np.int64), z.astype(np.int64), z.astype(np.uint64),
                   z.astype(np.int64), z.astype(np.int64), 0, note)


def _files(root: Path, runs: int, table: str = "proc_samples") -> tuple[list[Path], list[str]]:
    """The ``table`` files of this host's last ``runs`` committed runs
    (in a fleet lake: its own partition and the files written before the
    lake was one; other hosts' runs are not this host's history), and their
    run ids (compacted month files hold many runs: filtered in SQL)."""
    from pt.telemetry import lake as lakes
    hosts = frozenset({lakes.host_name()}) if lakes.is_fleet(root) else frozenset()
    committed = lakes.committed_runs(root, hosts)
    raw, compacted = lakes.table_files(root, table, skipped=[])
    if hosts:
        own_raw, own_compacted = lakes.host_files(root, table, hosts, skipped=[])
        raw, compacted = raw + own_raw, compacted + own_compacted
    wanted = sorted(committed)[-runs:]
    keep = set(wanted)
    files = [f for f in raw if f.parent.name.startswith("run_id=") and f.parent.name[7:] in keep]
    return files + compacted, wanted


def read(lake: str | os.PathLike | None, boot_id: str | None, *, runs: int = RUNS) -> History:
    """The last ``runs`` runs' process rows of boot ``boot_id`` (see the
    module docstring); an empty history with a ``note`` when the lake has
    none or cannot be read."""
    if not boot_id:
        return History.empty("no boot id: earlier runs cannot be matched")
    try:
        from pt.telemetry import lake as lakes
        root = lakes.lake_root(lake)
        if not root.is_dir():
            return History.empty()
        files, wanted = _files(root, runs)
        if not files or not wanted:
            return History.empty()
        return _query(files, _files(root, runs, "runs")[0], wanted, boot_id)
    except Exception as exc:   # noqa: BLE001 - a lake is a hint: never worth failing a scan
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        return History.empty(f"earlier runs skipped: {type(exc).__name__}: {reason}")


def _query(files: list[Path], run_files: list[Path], wanted: list[str], boot_id: str) -> History:
    import calendar
    import time

    import duckdb

    from pt.telemetry.duck import resource_limits
    # The oldest wanted run's time, from its id (YYYYMMDDTHHMMSSZ-...): older rows of compacted files are not read.
    try:
        since = calendar.timegm(time.strptime(wanted[0][:16], "%Y%m%dT%H%M%SZ")) - 1.0
    except ValueError:
        since = -np.inf
    con = duckdb.connect(":memory:")
    try:
        for setting in resource_limits():
            con.execute(setting)
        names = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
        # Numbers only (strings are slow to fetch): runs are told apart by their time (one per run).
        table = con.execute(
            f"SELECT CASE WHEN cmd_hash IS NULL THEN NULL ELSE hash(cmd_hash) >> 1 END AS cmd, "
            f"{', '.join(f'TRY_CAST({c} AS DOUBLE) AS {c}' for c in NUMERIC)} FROM read_parquet([{names}], "
            "union_by_name = true, hive_partitioning = false) WHERE boot_id = ? AND ts >= ?",
            [boot_id, since]).fetchnumpy()
        clocks = _clocks(con, run_files, boot_id, since)
    finally:
        con.close()
    col = {c: np.ma.filled(np.ma.asarray(table[c], dtype=np.float64), np.nan) for c in NUMERIC}
    ts, pid, ppid = col["ts"], col["pid"], col["ppid"]
    start, rss = col["start_ticks"], col["rss_bytes"]
    ok = np.isfinite(ts) & (pid > 0) & (pid < PID_MAX) & np.isfinite(ppid) & (ppid >= 0) & (ppid < PID_MAX) \
        & np.isfinite(start) & (start >= 0)
    times = np.unique(ts[ok])
    ok &= ts >= times[-len(wanted):][0] if len(times) else ok         # at most as many runs as wanted
    times, run = np.unique(ts[ok], return_inverse=True)
    run = run.ravel().astype(np.int64)
    cmd = np.ma.filled(np.ma.asarray(table["cmd"]).astype(np.int64), -1)[ok]      # -1: no command line
    rss = np.where(np.isfinite(rss[ok]) & (rss[ok] >= 0), rss[ok], -1.0)
    age = None
    if clocks:
        boot_time, hz = (np.array([clocks.get(t, (np.nan, np.nan))[i] for t in times]) for i in (0, 1))
        age = ts[ok] - boot_time[run] - start[ok] / hz[run]
    return History(ts[ok], run, pid[ok].astype(np.int64), ppid[ok].astype(np.int64),
                   start[ok].astype(np.uint64), rss.astype(np.int64), cmd, len(times), age_s=age)


def _clocks(con, run_files: list[Path], boot_id: str, since: float) -> dict:
    """Each run's time -> (boot time, clock ticks per second), for the runs
    that recorded plausible ones (a boot time in the past of the run, a tick
    rate of 1 to 10^6 Hz); empty when none did or the files cannot be read."""
    if not run_files:
        return {}
    names = ", ".join("'" + str(f).replace("'", "''") + "'" for f in run_files)
    try:
        rows = con.execute(
            f"SELECT TRY_CAST(ts AS DOUBLE), TRY_CAST(boot_time AS DOUBLE), TRY_CAST(clock_ticks AS DOUBLE) "
            f"FROM read_parquet([{names}], union_by_name = true, hive_partitioning = false) "
            "WHERE boot_id = ? AND ts >= ?", [boot_id, since]).fetchall()
    except Exception:   # noqa: BLE001 - without them lives have no age; the history still holds
        return {}
    return {t: (b, hz) for t, b, hz in rows
            if t is not None and b is not None and hz is not None and np.isfinite(t) and np.isfinite(b)
            and 0 <= b <= t and 1 <= hz <= 1e6}


@dataclass(frozen=True)
class Respawn:
    """A respawn loop across runs: the command ``cmd`` under the parent
    life ``(ppid, parent_start_ticks)`` was present in every one of ``runs``
    consecutive runs, as ``lives`` different lives, one at a time."""

    ppid: int
    parent_start_ticks: int
    cmd: int
    lives: int
    runs: int
    span_s: float
    latest_pid: int


def respawns(h: History, min_respawns: int = 3) -> list[Respawn]:
    """Respawn loops in the history ``h``: the same command line (keyed hash)
    under the same parent life, reborn at least ``min_respawns`` times, each
    life seen only after the previous one was last seen, and some life of it
    present in every run from the first to the last (a supervisor restarts
    at once; a person re-running a command under the same shell leaves runs
    without it). Lives seen together in more than one pair in ten are
    workers, not respawns. A life first seen older than :data:`YOUNG_S` is no
    respawn (it lived for minutes: a reload on a save, not a crash loop);
    one whose age is unknown counts. Vectorised but for the (few) groups
    with enough lives."""
    if not len(h):
        return []
    key = h.run * PID_MAX + h.pid
    order = np.argsort(key, kind="stable")
    pkey = h.run * PID_MAX + h.ppid
    at = np.clip(np.searchsorted(key[order], pkey), 0, len(key) - 1)
    found = key[order][at] == pkey
    pstart = np.where(found, h.start_ticks[order][at].astype(np.int64), -1)
    idx = np.flatnonzero(found & (h.ppid > 1) & (h.cmd >= 0))
    if not len(idx):
        return []
    # Groups (parent life, command), and their lives (pid, start), as integer codes.
    group = _codes(h.ppid[idx], pstart[idx], h.cmd[idx])
    life = h.start_ticks[idx].astype(np.int64) * PID_MAX + h.pid[idx]
    pair = _codes(group, life)
    first_of_pair = np.zeros(pair.max() + 1, dtype=np.int64)
    first_of_pair[pair] = group
    lives_per_group = np.bincount(first_of_pair, minlength=group.max() + 1)
    out = []
    for g in np.flatnonzero(lives_per_group >= min_respawns + 1):            # few: supervisors and pools
        rows = idx[group == g]
        lives, inv = np.unique(life[group == g], return_inverse=True)
        first = np.full(len(lives), np.iinfo(np.int64).max)
        last = np.full(len(lives), -1)
        np.minimum.at(first, inv, h.run[rows])
        np.maximum.at(last, inv, h.run[rows])
        seen_at = np.full(len(lives), np.inf)                # the age each life was first seen at
        if h.age_s is not None:
            np.minimum.at(seen_at, inv, np.where(np.isnan(h.age_s[rows]), -np.inf, h.age_s[rows]))
        young = seen_at <= YOUNG_S if h.age_s is not None else np.ones(len(lives), dtype=bool)
        by_birth = np.argsort(lives // PID_MAX, kind="stable")
        first, last, young = first[by_birth], last[by_birth], young[by_birth]
        apart = (last[:-1] < first[1:]) & young[1:]
        present = np.unique(h.run[rows])
        every = len(present) == present[-1] - present[0] + 1
        n = int(apart.sum())
        if n >= min_respawns and (~apart).sum() * 10 <= n and every:
            i = rows[np.argmax(h.ts[rows])]
            out.append(Respawn(int(h.ppid[i]), int(pstart[i]), int(h.cmd[i]), len(lives), len(present),
                               float(h.ts[rows].max() - h.ts[rows].min()), int(h.pid[i])))
    return out


def _codes(*keys: np.ndarray) -> np.ndarray:
    """Dense group codes of the rows' tuples of integer ``keys`` (one lexsort)."""
    order = np.lexsort(keys[::-1])
    change = np.zeros(len(order), dtype=bool)
    if len(order):
        change[0] = True
        for k in keys:
            change[1:] |= k[order][1:] != k[order][:-1]
    codes = np.empty(len(order), dtype=np.int64)
    codes[order] = np.cumsum(change) - 1
    return codes


def rss_across_runs(h: History, pid: np.ndarray, start_ticks: np.ndarray, rss_bytes: np.ndarray,
                    now_ts: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(times, rss, columns)``: the RSS of the processes ``(pid,
    start_ticks)`` (current rows, ``rss_bytes`` now at ``now_ts``) in every
    earlier run of ``h`` and now, ``(runs + 1, m)`` bytes (-1: not seen), for
    the ``columns`` (current rows) seen in enough runs for a sustained slope
    (:data:`pt.infer.memory.MIN_HALF_SAMPLES` a half); a run's time is its
    rows' latest ``ts``."""
    from pt.infer.memory import MIN_HALF_SAMPLES
    from pt.telemetry.followup import identity_key
    key_now = identity_key(pid, start_ticks)
    if not len(h) or not len(key_now):
        return np.zeros(0), np.zeros((0, 0), dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.argsort(key_now, kind="stable")
    hkey = identity_key(h.pid, h.start_ticks)
    at = np.clip(np.searchsorted(key_now[order], hkey), 0, len(key_now) - 1)
    match = (key_now[order][at] == hkey) & (h.run >= 0)
    row = order[at][match]
    seen = np.bincount(row, minlength=len(key_now))
    columns = np.flatnonzero(seen + 1 >= 2 * MIN_HALF_SAMPLES)
    times = np.full(h.runs + 1, -np.inf)
    np.maximum.at(times, h.run[h.run >= 0], h.ts[h.run >= 0])       # one time per run (the writer's)
    times = np.where(np.isfinite(times), times, np.nan)
    times[-1] = now_ts
    col_of = np.full(len(key_now), -1)
    col_of[columns] = np.arange(len(columns))
    rss = np.full((h.runs + 1, len(columns)), -1, dtype=np.int64)
    keep = col_of[row] >= 0
    rss[h.run[match][keep], col_of[row][keep]] = h.rss_bytes[match][keep]
    rss[-1] = np.asarray(rss_bytes, dtype=np.int64)[columns]
    known = np.isfinite(times)
    return times[known], rss[known], columns


def growth_across_runs(h: History, snapshot, priors):
    """The memory-growth evidence (:class:`pt.infer.memory.Growth`) of every
    row of ``snapshot`` across the earlier runs of ``h`` and now: the same
    sustained Theil–Sen slope and bounded term as a deep scan's watch, over
    the span the runs cover (not observed for processes seen in too few)."""
    from pt.infer import memory as rss_model
    n = len(snapshot)
    times, rss, cols = rss_across_runs(h, snapshot["pid"], snapshot["start_ticks"], snapshot["rss_bytes"],
                                       snapshot.host.taken_at)
    slope, sd, observed = (np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=bool))
    watch = np.zeros(n)
    if len(cols):
        s, e, o = rss_model.sustained_slope(times, rss, snapshot.host.page_size)
        slope[cols], sd[cols], observed[cols] = s, e, o
        stamps = np.where(rss >= 0, times[:, None], np.nan)
        with np.errstate(invalid="ignore"):
            watch[cols] = np.nan_to_num(np.nanmax(stamps, axis=0) - np.nanmin(stamps, axis=0))
    terms = rss_model.growth_terms(slope, sd, observed, priors, watch_s=watch)
    last = np.asarray(snapshot["rss_bytes"], dtype=np.float64) / rss_model.MB
    return rss_model.Growth(watch, slope, sd, np.where(last >= 0, last, np.nan), np.full(n, np.nan), terms,
                            observed)


def respawn_incidents(h: History, snapshot, protected: np.ndarray | None = None, thresholds=None) -> list:
    """The respawn loops across runs whose supervisor (the parent life) is
    alive in ``snapshot``, as :class:`pt.infer.incidents.Incident` of kind
    ``respawn_loop`` with the remedy on the supervisor (keep where
    ``protected`` names its veto). Severity is respawns over ``respawn_min``."""
    from pt.infer.incidents import REMEDY, Incident, Thresholds, level_of
    th = thresholds or Thresholds()
    loops = respawns(h, th.respawn_min)
    if not loops:
        return []
    pid, start = np.asarray(snapshot["pid"]), np.asarray(snapshot["start_ticks"]).astype(np.int64)
    out = []
    for loop in loops:
        found = np.flatnonzero((pid == loop.ppid) & (start == loop.parent_start_ticks))
        if not len(found):
            continue
        r = int(found[0])
        respawned = loop.lives - 1
        veto = protected[r] if protected is not None else None
        words = (f"the same command (pid {loop.latest_pid} last) reborn {respawned} times across "
                 f"{loop.runs} earlier scans over {loop.span_s / 60:.0f} min, each after the previous one was gone")
        severity = respawned / th.respawn_min
        out.append(Incident("respawn_loop", -1, int(pid[r]), int(start[r]), str(snapshot["comm"][r]),
                            tuple(snapshot["cmdline"][r] or ()),
                            {"respawns": respawned, "runs": loop.runs, "span_s": round(loop.span_s, 3),
                             "latest_child_pid": loop.latest_pid, "source": "lake"},
                            words, float(severity), level_of(severity),
                            action="keep" if veto else REMEDY["respawn_loop"], veto=veto))
    return out
