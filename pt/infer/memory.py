"""Memory as evidence: the deep scan's robust RSS growth slope and its term.

A leak is sustained growth: resident memory that rises through the whole
watch. One allocation (a step) is not a leak, and neither is the sawtooth of
a garbage collector. The slope is therefore fitted robustly (Theil–Sen: the
median of the pairwise slopes, idea AF) on each half of the watch, and the
*sustained* slope is the smaller of the two: a step lands in one half only,
a leak shows in both.

The term (``priors.json`` ``timeseries.memory_growth``) is a mixture over
three behaviours with per-class weights, relative to the steady one, as the
CPU regime term is:

    steady     s ~ N(0, sd^2 + tau0^2)                       (jitter, caches warming)
    growing    g ~ HalfNormal(tau_g), s ~ N(g, sd^2)         (skew-normal marginal)
    shrinking  the mirror image of growing                   (memory given back)

so no observation moves the odds between two classes by more than the ratio
of their weights: the weights say how much sustained growth tells. Growth
episodes of every class but useful_bad end (loading data, a link), so
growth through a longer watch counts more; memory pressure (PSI) makes
growth likelier to be harm, and never moves a process that does not grow.
docs/model.md, "Memory", gives the numbers and why.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pt import kernels
from pt.config import CLASSES, Priors

#: One MB in the slopes' unit (MB/s, shown as MB/min): 2^20 bytes, as ``format_bytes``.
MB = float(1 << 20)
#: Fewest known RSS samples in each half of the watch before the slope is evidence.
MIN_HALF_SAMPLES = 5
#: Points per half-watch fit at most: longer series are thinned evenly (pairs grow as the square).
MAX_POINTS = 60
#: Candidates fitted together: the (pairs, BLOCK) slope array stays near 15 MB (masked fits of 120 points).
BLOCK = 256
#: The Theil–Sen interval's normal quantile (95%, as ``scipy.stats.theilslopes``).
Z95 = 1.959963984540054
#: RSS gained over the last VOI step that keeps a deep-scan candidate watched (MB).
RISING_MB = 1.0
#: Memory pressure (PSI ``some`` share of time) above which it no longer adds weight.
PRESSURE_CAP = 0.9
#: Share of growth episodes of useful work that outlast any watch (default of ``lasting_floor``).
LASTING_FLOOR = 0.01
#: Average growth since birth (RSS over age, MB/s) that makes a process worth a deep look.
SUSPECT_MB_S = 1.0
#: ... once it holds at least this much (MB): every process grows from nothing at birth.
SUSPECT_MIN_MB = 32.0


@dataclass(frozen=True)
class TheilSen:
    """Theil–Sen fits per column: ``slope`` (median of the pairwise slopes),
    its 95% interval ``low``..``high`` (Sen 1968, ties not corrected: a little
    wider), and ``points`` (known samples used). NaN where fewer than 2 points."""

    slope: np.ndarray
    low: np.ndarray
    high: np.ndarray
    points: np.ndarray


def theil_sen(x: np.ndarray, y: np.ndarray) -> TheilSen:
    """Theil–Sen slopes of every column of ``y`` (T, m) against ``x`` (T,).

    NaN in ``y`` is an unknown sample; each column uses its own known ones.
    Columns are done together: the (pairs, m) slopes are sorted once, NaN last.

    Notes
    -----
    The interval is that of ``scipy.stats.theilslopes`` (Sen 1968, eq. 2.6)
    without its tie correction: with N pairs and n points,
    sigma^2 = n (n - 1) (2n + 5) / 18 and the bounds are the sorted slopes of
    ranks round((N -+ z sigma) / 2).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2 or x.shape != (y.shape[0],):
        raise ValueError(f"y must be (T, m) and x (T,), got {y.shape} and {x.shape}")
    m = y.shape[1]
    out = TheilSen(*(np.full(m, np.nan) for _ in range(3)), np.isfinite(y).sum(axis=0))
    if len(x) < 2 or m == 0:
        return out
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    usable = dx > 0
    i, j, dx = i[usable], j[usable], dx[usable]
    if not len(dx):                                                       # every sample at one time
        return out
    slopes = np.sort((y[j] - y[i]) / dx[:, None], axis=0)                # (pairs, m), NaN last
    count = np.isfinite(slopes).sum(axis=0)
    ok = count > 0
    cols = np.arange(m)

    def at(rank):
        return slopes[np.clip(rank, 0, len(slopes) - 1), cols]
    slope = 0.5 * (at((count - 1) // 2) + at(count // 2))
    n = out.points.astype(np.float64)
    sigma = np.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    upper = np.minimum(np.round((count + Z95 * sigma) / 2.0).astype(np.int64), count - 1)
    lower = np.maximum(np.round((count - Z95 * sigma) / 2.0).astype(np.int64) - 1, 0)
    return TheilSen(np.where(ok, slope, np.nan), np.where(ok, at(lower), np.nan),
                    np.where(ok, at(upper), np.nan), out.points)


@dataclass(frozen=True)
class Growth:
    """RSS growth per candidate over the deep scan: ``watch_s`` (seconds
    between its first and last known sample), ``slope_mb_s`` (the
    sustained slope: the smaller of the two halves' Theil–Sen slopes),
    ``sd_mb_s`` (its uncertainty: the larger of the halves', at least one
    page over the watch), ``rss_mb`` (last known RSS), ``pressure`` (mean
    memory PSI ``some`` share over the watch, NaN without PSI), and the
    ``(n, 4)`` log ``terms``, ``observed`` where both halves had enough
    samples; ``earlier``, if given, is the growth across the lake's earlier
    runs (:mod:`pt.telemetry.history`), and ``scans``, across the quick
    scans remembered (:func:`scan_slope`), whose observations ``terms`` include."""

    watch_s: np.ndarray
    slope_mb_s: np.ndarray
    sd_mb_s: np.ndarray
    rss_mb: np.ndarray
    pressure: np.ndarray
    terms: np.ndarray
    observed: np.ndarray
    earlier: Growth | None = None      # the same across the lake's earlier runs, joined into ``terms``
    scans: Growth | None = None        # the same across the verdict memory's earlier scans, joined into ``terms``

    @property
    def growing(self) -> np.ndarray:
        """Growth clearly above zero (the slope more than two standard errors)."""
        return self.observed & (np.nan_to_num(self.slope_mb_s) > 2 * np.nan_to_num(self.sd_mb_s, nan=np.inf))

    @property
    def slope_mb_min(self) -> np.ndarray:
        return self.slope_mb_s * 60.0

    @property
    def sd_mb_min(self) -> np.ndarray:
        return self.sd_mb_s * 60.0


def sustained_slope(times: np.ndarray, rss_bytes: np.ndarray, page_size: int = 4096
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(slope, sd, observed)`` in MB/s of ``rss_bytes`` (T, m; negative =
    unknown) over ``times`` (T,): the smaller of the Theil–Sen slopes of the
    first and second half of each column's known samples (a candidate
    settled early has only its first samples), the larger of their standard
    errors (95% interval / 3.92, floored at one page over the half's span).
    Long series are thinned evenly to ``2 * MAX_POINTS`` samples first.

    Columns known at every sample (the usual case) are split at the same
    row and fitted on their halves alone; the others with the samples
    outside each half masked (the same fit, on more pairs).
    """
    y = np.where(np.asarray(rss_bytes) >= 0, rss_bytes, np.nan) / MB
    t = np.asarray(times, dtype=np.float64)
    if len(t) > 2 * MAX_POINTS:
        keep = np.unique(np.linspace(0, len(t) - 1, 2 * MAX_POINTS).round().astype(np.int64))
        t, y = t[keep], y[keep]
    known = np.isfinite(y)
    m = y.shape[1]
    slopes, sds, enough = np.full((2, m), np.nan), np.full((2, m), np.nan), np.zeros((2, m), dtype=bool)
    full = np.flatnonzero(known.all(axis=0))
    half = len(t) // 2
    for h, rows in enumerate((slice(0, half), slice(half, len(t)))):
        part_t = t[rows]
        span = np.full(len(full), part_t[-1] - part_t[0] if len(part_t) > 1 else 0.0)
        _fit_into(part_t, y[rows][:, full], span, page_size, full, slopes[h], sds[h], enough[h])
    rest = np.flatnonzero(~known.all(axis=0))
    if len(rest):
        k = known[:, rest]
        first = k & (np.cumsum(k, axis=0) - 1 < (k.sum(axis=0) // 2)[None, :])
        for h, part in enumerate((first, k & ~first)):
            stamps = np.where(part, t[:, None], np.nan)
            with np.errstate(invalid="ignore"):
                span = np.nanmax(stamps, axis=0, initial=-np.inf) - np.nanmin(stamps, axis=0, initial=np.inf)
            _fit_into(t, np.where(part, y[:, rest], np.nan), span, page_size, rest, slopes[h], sds[h], enough[h])
    observed = enough.all(axis=0) & np.isfinite(slopes).all(axis=0) & np.isfinite(sds).all(axis=0)
    slope = np.where(observed, slopes.min(axis=0), np.nan)
    sd = np.where(observed, sds.max(axis=0), np.nan)
    return slope, sd, observed


def _fit_into(t, y, span, page_size, cols, slope, sd, enough) -> None:
    """Theil–Sen of ``y`` (T, len(cols)) against ``t``, in blocks of
    :data:`BLOCK` columns (bounded memory), written to ``slope``, ``sd`` and
    ``enough`` at ``cols``."""
    for lo in range(0, len(cols), BLOCK):
        block = slice(lo, lo + BLOCK)
        fit = theil_sen(t, y[:, block])
        width = np.where(span[block] > 0, span[block], 1.0)
        floor = np.where(span[block] > 0, page_size / MB / width, np.inf)
        at = cols[block]
        slope[at] = fit.slope
        sd[at] = np.maximum((fit.high - fit.low) / (2 * Z95), floor)
        enough[at] = fit.points >= MIN_HALF_SAMPLES


#: Fewest RSS points (earlier scans and this one) for a slope across scans: two segments, one a half.
MIN_SCAN_POINTS = 3


def scan_slope(times: np.ndarray, rss_bytes: np.ndarray, page_size: int = 4096
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(slope, sd, observed, span_s)`` of each row's few RSS points across
    scans: ``times`` and ``rss_bytes`` ``(n, k)``, oldest first and
    left-aligned (NaN and -1 after a row's last point), times of the row's own.

    The sustained slope of :func:`sustained_slope` for a handful of points:
    the points are split into two halves that share the middle one (k = 3:
    the two segments; 4: one and two; 5: two and two), each half's slope is
    the median of its pairwise slopes (Theil–Sen), and the sustained slope is
    the smaller, its standard error the larger of the halves' (the range of
    the pairwise slopes over 3.92, at least one page over the half's span).
    One allocation lands in one segment, so in one half: not growth. Observed
    with at least :data:`MIN_SCAN_POINTS` points; ``span_s`` from the first
    to the last.
    """
    t = np.asarray(times, dtype=np.float64)
    y = np.where(np.asarray(rss_bytes) >= 0, rss_bytes, np.nan) / MB
    n, width = y.shape
    known = np.isfinite(y) & np.isfinite(t)
    count = known.sum(axis=1)
    slope, sd = np.full(n, np.nan), np.full(n, np.nan)
    span = np.zeros(n)
    for k in range(MIN_SCAN_POINTS, width + 1):
        rows = np.flatnonzero((count == k) & known[:, :k].all(axis=1))
        if not len(rows):
            continue
        tk, yk = t[rows, :k], y[rows, :k]
        middle = (k - 1) // 2
        halves = []
        for lo, hi in ((0, middle), (middle, k - 1)):
            i, j = np.triu_indices(hi - lo + 1, k=1)
            dt = tk[:, lo + j] - tk[:, lo + i]
            with np.errstate(divide="ignore", invalid="ignore"):
                pair = (yk[:, lo + j] - yk[:, lo + i]) / dt
            width_s = tk[:, hi] - tk[:, lo]
            floor = np.where(width_s > 0, page_size / MB / np.where(width_s > 0, width_s, 1.0), np.inf)
            halves.append((row_median(pair),
                           np.maximum((pair.max(axis=1) - pair.min(axis=1)) / (2 * Z95), floor),
                           (dt > 0).all(axis=1)))
        (s1, e1, ok1), (s2, e2, ok2) = halves
        ok = ok1 & ok2
        slope[rows] = np.where(ok, np.minimum(s1, s2), np.nan)
        sd[rows] = np.where(ok, np.maximum(e1, e2), np.nan)
        span[rows] = np.where(ok, tk[:, -1] - tk[:, 0], 0.0)
    observed = np.isfinite(slope) & np.isfinite(sd)
    return slope, sd, observed, span


def row_median(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=1)`` of a 2-d array (NaN where a row has one),
    without ``np.median``, which imports numpy.ma (~10 ms) on first use."""
    a = np.asarray(a, dtype=np.float64)
    width = a.shape[1]
    if width == 0:
        return np.full(a.shape[0], np.nan)
    s = np.sort(a, axis=1)
    middle = s[:, width // 2] if width % 2 else (s[:, width // 2 - 1] + s[:, width // 2]) / 2
    return np.where(np.isnan(a).any(axis=1), np.nan, middle)


def growth_terms(slope_mb_s: np.ndarray, sd_mb_s: np.ndarray, observed: np.ndarray, priors: Priors,
                 pressure: np.ndarray | None = None, watch_s: np.ndarray | None = None) -> np.ndarray:
    """``(n, 4)`` log terms of the memory-growth mixture (module docstring),
    relative to the steady behaviour; 0 where not observed.

    ``slope_mb_s``, ``sd_mb_s`` and ``observed`` may be ``(n, k)``: k
    observations of one behaviour (a deep scan's watch and the lake's
    earlier runs): the behaviour is shared, each observation its own rate
    (seconds and hours need not leak alike), so their densities multiply
    inside each behaviour, and the mixture still bounds the term by the
    ratio of the weights. ``watch_s`` is then ``(n, k)`` too (the longest
    observed span is the episode's), or ``(n,)`` for all.

    Steady is bounded RSS: its jitter ``steady_sd_mb_s`` is a slope over
    ``steady_span_s``; over a longer span w the same wobble is a slope
    ``steady_span_s / w`` times as steep (across hours of earlier scans, a
    sustained 10 MB/min is no wobble).

    ``watch_s`` (n,), seconds the growth was watched over: every class but
    useful_bad grows in episodes that end (loading data, a linker's output,
    a cache warming) after an exponential time of mean ``episode_s``, so
    growing through a watch of w seconds has weight P(growing) e^(-w/episode_s)
    for them, at least ``lasting_floor`` (a cache filling for hours); a leak
    does not end. ``pressure`` (n,), memory PSI ``some`` as
    a share of time (NaN: none): useful work's weight of growing is scaled by
    1 - pressure (capped at :data:`PRESSURE_CAP`). Mass taken from growing
    goes to steady, so only a process that itself grows is moved by either:
    a steady one's term hardly changes.
    """
    p = priors.memory_growth
    def cols(x, dtype=np.float64):                                      # (n,) or (n, k) -> (n, k)
        x = np.asarray(x, dtype=dtype)
        return x[:, None] if x.ndim == 1 else x
    seen = cols(observed, bool)
    s = np.where(seen, cols(slope_mb_s), 0.0)
    sd = np.where(seen, cols(sd_mb_s), 1.0)
    tau_g, ref = p["growth_scale_mb_s"], p.get("steady_span_s", 30.0)
    spans = None if watch_s is None else np.maximum(np.nan_to_num(np.broadcast_to(cols(watch_s), seen.shape)), 0.0)
    # Steady is bounded RSS: its wobble (steady_sd over steady_span_s) spread over a longer span is a smaller slope.
    tau0 = p["steady_sd_mb_s"] * (1.0 if spans is None else np.minimum(1.0, ref / np.maximum(spans, 1e-9)))
    v0, vg = sd ** 2 + tau0 ** 2, sd ** 2 + tau_g ** 2
    skew = s * tau_g / (sd * np.sqrt(vg))
    log_gauss = math.log(2.0) - 0.5 * (s ** 2 / vg + np.log(vg))
    per = np.stack([-0.5 * (s ** 2 / v0 + np.log(v0)), log_gauss + kernels.log_ndtr(skew), log_gauss + kernels.log_ndtr(-skew)],
                   axis=-1)                                                                # (n, k, 3)
    log_f = np.where(seen[..., None], per, 0.0).sum(axis=1)[:, None, :]                  # (n, 1, 3)
    log_steady = log_f[..., 0]
    observed = seen.any(axis=1)
    weights = np.broadcast_to(np.array([p[c] for c in CLASSES]), (len(s), len(CLASSES), 3)).copy()
    if spans is not None:
        ends = np.array([c != "useful_bad" for c in CLASSES])
        # Some growth of useful work lasts hours (a cache or buffer pool filling): the floor keeps a
        # growth watched across the lake's runs strong evidence, not proof.
        lasting = np.maximum(np.exp(-np.where(seen, spans, 0.0).max(axis=1) / p["episode_s"]),
                             p.get("lasting_floor", LASTING_FLOOR))[:, None]
        grows = weights[:, ends, 1].copy()
        weights[:, ends, 1] = grows * lasting                  # not grows - grows * (1 - lasting): that rounds to 0
        weights[:, ends, 0] += grows * (1.0 - lasting)
    if pressure is not None:
        share = np.clip(np.nan_to_num(np.asarray(pressure, dtype=np.float64), nan=0.0), 0.0, PRESSURE_CAP)
        useful = CLASSES.index("useful")
        moved = weights[:, useful, 1] * share
        weights[:, useful, 1] -= moved
        weights[:, useful, 0] += moved
    with np.errstate(divide="ignore"):
        joint = np.log(weights) + log_f                                    # (n, 4, 3)
    terms = kernels.logsumexp(joint.reshape(-1, 3), axis=1).reshape(len(s), len(CLASSES)) - log_steady
    return np.where(np.asarray(observed)[:, None], terms, 0.0)


def growth(series, priors: Priors, columns: np.ndarray | None = None, page_size: int = 4096,
           earlier: Growth | None = None, scans: Growth | None = None) -> Growth:
    """The memory-growth evidence of every candidate of a deep-scan
    :class:`~pt.collect.series.Series` (or only ``columns``, in that order);
    ``earlier`` (the same candidates across the lake's earlier runs) and
    ``scans`` (across the quick scans remembered before this one) are more
    observations of the same behaviour (:func:`growth_terms`)."""
    rss = series["rss_pages"]
    if columns is not None:
        rss = rss[:, columns]
    rss_bytes = np.where(rss >= 0, rss * page_size, -1)
    slope, sd, observed = sustained_slope(series.times, rss_bytes, page_size)
    known = rss_bytes >= 0
    last = np.where(known.any(axis=0), rss_bytes[::-1][np.argmax(known[::-1], axis=0),
                                                        np.arange(rss_bytes.shape[1])], -1) if len(rss_bytes) \
        else np.full(rss_bytes.shape[1], -1)
    psi = series["memory_some_avg10"] if len(series) else np.zeros(0)
    share = float(np.nanmean(psi)) / 100.0 if np.isfinite(psi).any() else math.nan
    pressure = np.full(rss_bytes.shape[1], share)
    times = np.where(known, np.asarray(series.times)[:, None], np.nan)
    with np.errstate(invalid="ignore"):
        watch = np.nanmax(times, axis=0, initial=-np.inf) - np.nanmin(times, axis=0, initial=np.inf) \
            if len(times) else np.zeros(rss_bytes.shape[1])
    watch = np.where(np.isfinite(watch), watch, 0.0)
    others = [g for g in (earlier, scans) if g is not None]
    if others:
        def stack(field, mine):
            return np.stack([mine] + [getattr(g, field) for g in others], axis=1)
        terms = growth_terms(stack("slope_mb_s", slope), stack("sd_mb_s", sd), stack("observed", observed), priors,
                             pressure, stack("watch_s", watch))
    else:
        terms = growth_terms(slope, sd, observed, priors, pressure, watch)
    seen = np.logical_or.reduce([observed] + [g.observed for g in others])
    return Growth(watch, slope, sd, np.where(last >= 0, last / MB, np.nan), pressure, terms, seen, earlier, scans)


def across_scans(slope_mb_s: np.ndarray, sd_mb_s: np.ndarray, span_s: np.ndarray, rss_bytes: np.ndarray,
                 priors: Priors) -> Growth:
    """The growth across the quick scans remembered (:func:`scan_slope`; NaN
    slope: not observed) as a :class:`Growth`, to join a deep scan's watch."""
    observed = np.isfinite(slope_mb_s)
    span = np.where(observed, span_s, 0.0)
    terms = growth_terms(slope_mb_s, sd_mb_s, observed, priors, watch_s=span)
    rss_mb = np.where(np.asarray(rss_bytes) >= 0, np.asarray(rss_bytes, dtype=np.float64) / MB, np.nan)
    return Growth(span, slope_mb_s, sd_mb_s, rss_mb, np.full(len(span), np.nan), terms, observed)


def take(g: Growth, rows: np.ndarray) -> Growth:
    """The growth of ``rows`` only."""
    return Growth(*(getattr(g, f)[rows] for f in ("watch_s", "slope_mb_s", "sd_mb_s", "rss_mb", "pressure",
                                                  "terms", "observed")),
                  None if g.earlier is None else take(g.earlier, rows), None if g.scans is None else take(g.scans, rows))


def rising(series, columns: np.ndarray, samples: int, page_size: int = 4096) -> np.ndarray:
    """Whether each candidate ``columns`` of a deep-scan series gained at least
    :data:`RISING_MB` of RSS over its last ``samples`` samples: growth under
    way now, whether or not the fit is sure of it yet."""
    rss = series["rss_pages"][:, columns]
    if len(rss) < 2:
        return np.zeros(len(columns), dtype=bool)
    then, now = rss[max(len(rss) - 1 - samples, 0)], rss[-1]
    return (then >= 0) & (now >= 0) & ((now - then) * page_size >= RISING_MB * MB)


def suspects(rss_bytes: np.ndarray, age_s: np.ndarray, lake_growing: np.ndarray | None = None) -> np.ndarray:
    """``(n,)`` growth a quick scan can see, a score (0: none): RSS over age
    in MB/s (it gained that much a second on average since birth) where it
    holds at least :data:`SUSPECT_MIN_MB` and that is at least
    :data:`SUSPECT_MB_S`; a process ``lake_growing`` (clearly growing across
    the lake's earlier scans) scores at least :data:`SUSPECT_MB_S`. The deep
    scan watches such processes even when the value of information of their
    CPU is nil: a leak needs no CPU."""
    mb = np.maximum(np.asarray(rss_bytes, dtype=np.float64), 0.0) / MB
    age = np.asarray(age_s, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        since_birth = np.where(age > 0, mb / np.where(age > 0, age, 1.0), 0.0)
    rate = np.where((mb >= SUSPECT_MIN_MB) & (since_birth >= SUSPECT_MB_S), since_birth, 0.0)
    if lake_growing is not None:
        rate = np.where(np.asarray(lake_growing, dtype=bool), np.maximum(rate, SUSPECT_MB_S), rate)
    return rate


def growth_text(g: Growth, i: int) -> str:
    """The ledger's phrase for candidate ``i``: ``memory +600 MB/min (±3) at 412 MB``."""
    runs = ""
    if g.earlier is not None and g.earlier.observed[i]:
        e = g.earlier
        runs = f"{e.slope_mb_min[i]:+.1f} MB/min (±{e.sd_mb_min[i]:.1f}) across earlier scans over " \
               f"{e.watch_s[i] / 3600:.1f} h"
    if g.scans is not None and g.scans.observed[i]:
        c = g.scans
        scans = f"{c.slope_mb_min[i]:+.0f} MB/min (±{c.sd_mb_min[i]:.0f}) over about {c.watch_s[i]:.0f}s of " \
                "earlier scans"
        runs = f"{runs}; {scans}" if runs else scans
    if not np.isfinite(g.slope_mb_s[i]):
        return f"memory {runs}" if runs else "too few samples"
    at = f" at {g.rss_mb[i]:.0f} MB" if np.isfinite(g.rss_mb[i]) else ""
    under = f"; memory pressure {100 * g.pressure[i]:.0f}%" if np.isfinite(g.pressure[i]) and g.pressure[i] > 0 \
        else ""
    runs = f"; {runs}" if runs else ""
    return f"memory {g.slope_mb_min[i]:+.0f} MB/min (±{g.sd_mb_min[i]:.0f}) over {g.watch_s[i]:.0f}s{at}{under}{runs}"
