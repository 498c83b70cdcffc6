"""Closed-form posterior over {useful, useful_bad, abandoned, zombie}.

Every evidence item contributes, for every process and class, the log
marginal likelihood of what was observed under that class's conjugate prior
(ideas A, C, E, H, P; sections 4.2-4.4 of the spec). The result is one
matrix ``terms[process, feature, class]``; the posterior, Bayes factors, the
ledger and telemetry are all views of it. Missing evidence is a zero row and
is flagged in ``observed``.

All work is on whole columns: parameters are gathered per row by command
category, and the densities run as vectorised kernels over ``(n, 4)`` arrays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pt import kernels
from pt._kernels import _triage
from pt.config import CATEGORICAL_LEVELS, CLASSES, Priors

#: Evidence items, in ledger order.
FEATURES = ("cpu_window", "cpu_lifetime", "runtime", "survival", "orphan", "io_window",
            "tty", "state", "command", "cwd", "children", "network", "parent", "daemon",
            "activity", "progress", "memory", "tree")
CATEGORICAL = ("cpu_lifetime", "tty", "state", "command", "cwd", "children", "network", "parent",
               "daemon", "activity", "progress")
#: Terminal activity bin edges (seconds since its last input or output): recent < 1 h, hours < 1 d, days.
ACTIVITY_EDGES = (3600.0, 86400.0)
#: Younger than this, the lifetime CPU share is mostly the scan window itself
#: (not observed); spinning through a life at least this long is *sustained*.
LIFETIME_MIN_AGE_S = 60.0
#: Codes of the progress feature's spinning levels.
SPINNING, SUSTAINED = 2, 3
#: Features observed as one draw (Bernoulli or categorical), and the Evidence field of each.
ONE_DRAW = {"orphan": "orphaned", "io_window": "io_active", **{f: f for f in CATEGORICAL}}
N_CLASSES = len(CLASSES)
USEFUL, USEFUL_BAD, ABANDONED, ZOMBIE = range(N_CLASSES)
LN2 = np.log(2.0)


@dataclass(frozen=True)
class Evidence:
    """Model inputs, one row per process (numpy arrays of equal length).

    ``cpu_ticks``/``window_ticks``: CPU ticks used in the window and its
    length (k of n for the Beta-Binomial). ``age_s``: seconds alive.
    ``orphaned``, ``io_active``: 1/0, or -1 where not observed. Categorical
    features are integer codes into :data:`pt.config.CATEGORICAL_LEVELS`,
    -1 where not observed; ``parent``, ``daemon`` and ``progress`` may be
    omitted (not observed). ``tty_idle_s``: seconds since the process's terminal last saw
    input or output (NaN: no terminal, or not observed); the ``activity``
    feature is its bin, so ``later()`` ages it too. ``span_s``: where the CPU
    and IO evidence cover the time since the last scan rather than this
    scan's window alone, that span in seconds (NaN: the window alone).
    ``io_events``: IO events counted over that span (NaN: the window's
    ``io_active`` instead); the IO term is then a rate, not one draw.
    ``growth_mb_s``, ``growth_sd_mb_s``, ``growth_span_s``: the sustained RSS
    slope across this and earlier scans, its standard error and the span it
    covers (:func:`pt.infer.memory.scan_slope`; NaN: not observed), scored
    by the memory-growth term of the deep scan.
    """

    cpu_ticks: np.ndarray
    window_ticks: np.ndarray
    age_s: np.ndarray
    orphaned: np.ndarray
    io_active: np.ndarray
    cpu_lifetime: np.ndarray
    tty: np.ndarray
    state: np.ndarray
    command: np.ndarray
    cwd: np.ndarray
    children: np.ndarray
    network: np.ndarray
    parent: np.ndarray | None = None
    daemon: np.ndarray | None = None
    tty_idle_s: np.ndarray | None = None
    progress: np.ndarray | None = None
    span_s: np.ndarray | None = None
    io_events: np.ndarray | None = None
    growth_mb_s: np.ndarray | None = None
    growth_sd_mb_s: np.ndarray | None = None
    growth_span_s: np.ndarray | None = None

    def __post_init__(self):
        """Reject values the compiled kernel would misread, naming the feature."""
        n = len(self.age_s)
        for name in ("parent", "daemon", "progress"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.full(n, -1, dtype=np.int8))
        for name in ("tty_idle_s", "span_s", "io_events", "growth_mb_s", "growth_sd_mb_s", "growth_span_s"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.full(n, np.nan))
        for name, value in self.__dict__.items():
            if len(value) != n:
                raise ValueError(f"evidence {name} has {len(value)} rows, age_s has {n}")
        for name in ("cpu_ticks", "window_ticks"):
            values = getattr(self, name)
            if n and values.min() < 0:
                raise ValueError(f"evidence {name} must be >= 0, got {values.min()!r}")
        counted = np.isfinite(self.io_events)
        if n and ((self.io_events[counted] < 0).any() or not (self.span_s[counted] > 0).all()):
            raise ValueError("evidence io_events must be >= 0 and counted over a span_s > 0")
        grows = np.isfinite(self.growth_mb_s)
        if n and not ((self.growth_sd_mb_s[grows] > 0) & np.isfinite(self.growth_sd_mb_s[grows])
                      & (self.growth_span_s[grows] > 0) & np.isfinite(self.growth_span_s[grows])).all():
            raise ValueError("evidence growth_mb_s needs a finite growth_sd_mb_s > 0 over a finite growth_span_s > 0")
        if n and not np.isfinite(self.age_s).all():
            raise ValueError(f"evidence age_s must be finite, got {self.age_s[~np.isfinite(self.age_s)][0]!r}")
        for feature, levels in {"orphaned": 2, "io_active": 2,
                                **{f: len(CATEGORICAL_LEVELS[f]) for f in CATEGORICAL}}.items():
            codes = getattr(self, feature)
            bad = (codes < -1) | (codes >= levels)
            if n and bad.any():
                raise ValueError(f"evidence {feature} must be a code in -1..{levels - 1} "
                                 f"(-1 = not observed), got {codes[bad][0]!r}")

    def __len__(self) -> int:
        return len(self.age_s)

    @property
    def activity(self) -> np.ndarray:
        """Terminal activity code: recent / hours / days idle, -1 where unknown."""
        idle = np.asarray(self.tty_idle_s, dtype=np.float64)
        codes = np.digitize(np.nan_to_num(idle, nan=0.0), ACTIVITY_EDGES).astype(np.int8)
        return np.where(np.isnan(idle), -1, codes).astype(np.int8)

    def later(self, seconds: float) -> Evidence:
        """The same evidence as if ``seconds`` more had passed with no change
        (``pt scan --at``): older, still doing what it did, its terminal as
        quiet — and a process spinning now has spun all that time, which is
        sustained once its life is long enough."""
        age = self.age_s + seconds
        progress = np.where((self.progress == SPINNING) & (age >= LIFETIME_MIN_AGE_S), SUSTAINED,
                            self.progress).astype(np.int8)
        return Evidence(**{**self.__dict__, "age_s": age, "tty_idle_s": self.tty_idle_s + seconds,
                           "progress": progress})


class ModelTables:
    """Priors as arrays, built once: per-category parameter tables ``(13, 4)``
    for the hierarchical features, per-class constants ``(4,)`` for age, and
    log-probability tables ``(levels, 4)`` for the one-draw features."""

    def __init__(self, priors: Priors):
        categories = CATEGORICAL_LEVELS["command"]
        self.log_prior = np.log(np.asarray(priors.class_prior))

        def pair_table(feature):
            base = np.array([priors.pairs[feature][c] for c in CLASSES])           # (4, 2)
            table = np.repeat(base[None], len(categories), axis=0)                 # (13, 4, 2)
            for category, per_class in priors.by_category.get(feature, {}).items():
                for c, pair in per_class.items():
                    table[categories.index(category), CLASSES.index(c)] = pair
            return table[..., 0].copy(), table[..., 1].copy()

        self.cpu_alpha, self.cpu_beta = pair_table("cpu_window")
        self.cpu_log_beta = kernels.betaln(self.cpu_alpha, self.cpu_beta)            # (13, 4)
        self.surv_a, self.surv_b = pair_table("survival")
        self.runtime_shape, self.runtime_scale = (np.array(v) for v in zip(
            *(priors.pairs["runtime"][c] for c in CLASSES)))
        # The Gamma density's per-class constant lgamma(k) + k log(theta), from
        # the kernel itself: log Gamma(1; k, theta) = -1/theta - constant.
        self.runtime_log_norm = -kernels.gamma_logpdf(1.0, self.runtime_shape, self.runtime_scale) \
            - 1.0 / self.runtime_scale
        # One draw of a Bernoulli or categorical feature: the marginal is a
        # table, (levels, 4), from the Beta-Bernoulli and Dirichlet-categorical kernels.
        self.lookup = {}
        for feature in ("orphan", "io_window"):
            a, b = (np.array(v) for v in zip(*(priors.pairs[feature][c] for c in CLASSES)))
            self.lookup[feature] = kernels.beta_bernoulli_logpmf(np.array([[0], [1]]), a, b)
        for feature in CATEGORICAL:
            alphas = np.array([priors.categorical[feature][c] for c in CLASSES])    # (4, L)
            levels = np.arange(alphas.shape[1])
            self.lookup[feature] = kernels.dirichlet_categorical_logpmf(
                levels[:, None], alphas[None, :, :])                                 # (L, 4)
        self._cpu_tables = {}
        # IO over earlier scans: a rate of events per second, Gamma(shape, rate
        # seconds) per class; the deep scan's wake-up priors (an IO event is a
        # wake-up that moved data).
        self.io_rate_a, self.io_rate_b = (np.array([priors.wakeups[c][j] for c in CLASSES]) for j in (0, 1))
        # The same tables stacked for the fused kernel: rows of feature j start at offset[j].
        tables = [self.lookup[f] for f in ONE_DRAW]
        self.lookup_stack = np.ascontiguousarray(np.concatenate(tables))
        self.lookup_offset = np.cumsum([0] + [len(t) for t in tables[:-1]]).astype(np.intp)
        self.one_draw_feature = np.array([FEATURES.index(f) for f in ONE_DRAW], dtype=np.intp)
        self.priors = priors          # the memory-growth term's mixture (pt.infer.memory.growth_terms)


    def cpu_window_table(self, window_ticks: int) -> np.ndarray:
        """``(13, n + 1, 4)``: the CPU-in-window term for every category, tick
        count k = 0..n and class, for a window of ``n`` ticks (cached: a scan
        has one window length, so this costs 13 (n + 1) 4 log-Betas, not one
        per process). Longer spans (earlier scans' history) and n = 0 get an
        empty table: the kernel computes those per row."""
        if not 0 < window_ticks <= MAX_TABLE_TICKS:
            return np.zeros((len(self.cpu_alpha), 1, len(CLASSES)))
        table = self._cpu_tables.get(window_ticks)
        if table is None:
            if len(self._cpu_tables) >= 8:                  # a long-running watcher sees many lengths
                self._cpu_tables.clear()
            nt = float(window_ticks)
            k = np.arange(window_ticks + 1, dtype=np.float64)[None, :, None]
            a, b = self.cpu_alpha[:, None, :], self.cpu_beta[:, None, :]
            log_choose = -np.log1p(nt) - kernels.betaln(k + 1, nt - k + 1)
            table = np.ascontiguousarray(log_choose + kernels.betaln(k + a, nt - k + b)
                                         - self.cpu_log_beta[:, None, :])
            self._cpu_tables[window_ticks] = table
        return table


@dataclass(frozen=True)
class Inference:
    """The evidence matrix and everything derived from it.

    ``terms``: ``(n, F, 4)`` log-likelihood of each feature under each class
    (0 where not observed); ``observed``: ``(n, F)``; ``log_likelihood``:
    ``(n, 4)``, the sum over features; ``log_posterior`` and ``posterior``:
    ``(n, 4)``. Build it with :meth:`from_terms`.
    """

    terms: np.ndarray
    observed: np.ndarray
    log_prior: np.ndarray
    log_likelihood: np.ndarray
    log_posterior: np.ndarray
    posterior: np.ndarray

    @classmethod
    def from_terms(cls, terms: np.ndarray, observed: np.ndarray, log_prior: np.ndarray,
                   log_likelihood: np.ndarray | None = None) -> Inference:
        """log P(C|x) = log P(C) + sum of terms, normalised with log-sum-exp."""
        loglik = terms.sum(axis=1) if log_likelihood is None else log_likelihood
        joint = log_prior + loglik
        log_post = joint - kernels.logsumexp(joint, axis=1)[:, None]
        return cls(terms, observed, log_prior, loglik, log_post, np.exp(log_post))

    def row_bits(self, row: int, num: int = ABANDONED, den: int = USEFUL) -> np.ndarray:
        """``(F,)``: one process's per-feature log2 Bayes factors of ``num`` over ``den``."""
        return (self.terms[row, :, num] - self.terms[row, :, den]) / LN2

    def bits(self, num: int = ABANDONED, den: int = USEFUL) -> np.ndarray:
        """``(n, F)``: every process's per-feature log2 Bayes factors, 0 where unobserved."""
        return np.where(self.observed, (self.terms[:, :, num] - self.terms[:, :, den]) / LN2, 0.0)


def evidence_terms(evidence: Evidence, tables: ModelTables) -> tuple[np.ndarray, np.ndarray]:
    """The ``(n, F, 4)`` term matrix and the ``(n, F)`` observed mask.

    One fused pass over the processes (:func:`pt._kernels._triage.evidence_terms`):

    - CPU in window: Beta-Binomial, log C(n,k) + log B(k+a, n-k+b) - log B(a, b),
      with (a, b) looked up by command category (k beyond one CPU counts as n);
    - age: Gamma(k, theta) density, (k-1) log t - t/theta - [lgamma(k) + k log theta];
    - still running: the integrated survival of idea C, a log(b / (b + t));
    - Bernoulli and categorical features: one draw, so the marginal is a table lookup.

    Stored feature-major, ``(F, n, 4)``, so the sum over features is
    contiguous; the returned arrays are transposed views.
    """
    category = np.where(evidence.command >= 0, evidence.command,
                        len(CATEGORICAL_LEVELS["command"]) - 1).astype(np.int64)
    codes = np.ascontiguousarray(np.stack([getattr(evidence, attr) for attr in ONE_DRAW.values()]),
                                 dtype=np.int64)
    by_feature, seen = _triage.evidence_terms(
        _int64(evidence.cpu_ticks), _int64(evidence.window_ticks),
        np.ascontiguousarray(evidence.age_s, dtype=np.float64), category, codes,
        tables.one_draw_feature, tables.lookup_stack, tables.lookup_offset,
        tables.cpu_alpha, tables.cpu_beta, tables.cpu_log_beta,
        tables.cpu_window_table(_common_length(evidence.window_ticks)),
        tables.runtime_shape, tables.runtime_scale, tables.runtime_log_norm,
        tables.surv_a, tables.surv_b,
        FEATURES.index("cpu_window"), FEATURES.index("runtime"), FEATURES.index("survival"),
        len(FEATURES))
    counted = np.flatnonzero(np.isfinite(evidence.io_events))
    if len(counted):
        io = FEATURES.index("io_window")
        by_feature[io, counted] = gamma_poisson_logpmf(evidence.io_events[counted], evidence.span_s[counted],
                                                       tables.io_rate_a, tables.io_rate_b)
        seen[io, counted] = True
    grows = np.flatnonzero(np.isfinite(evidence.growth_mb_s))
    if len(grows):
        from pt.infer.memory import growth_terms
        j = FEATURES.index("memory")
        by_feature[j, grows] = growth_terms(evidence.growth_mb_s[grows], evidence.growth_sd_mb_s[grows],
                                            np.ones(len(grows), dtype=bool), tables.priors,
                                            watch_s=evidence.growth_span_s[grows])
        seen[j, grows] = True
    return by_feature.transpose(1, 0, 2), seen.T


def gamma_poisson_logpmf(events: np.ndarray, seconds: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(n, 4)``: log P(B events in t seconds) for a Poisson rate lambda ~
    Gamma(shape a, rate b seconds) per class, the negative binomial

        lgamma(a + B) - lgamma(a) - lgamma(B + 1) + a log(b / (b + t)) + B log(t / (b + t)),

    with lgamma(a + B) - lgamma(a) - lgamma(B + 1) = -log B(a, B + 1) - log(a + B).
    ``events`` may be fractional (discounted counts)."""
    B = np.asarray(events, dtype=np.float64)[:, None]
    t = np.asarray(seconds, dtype=np.float64)[:, None]
    shape = (len(B), len(a))
    return (-kernels.betaln(np.broadcast_to(a, shape), np.broadcast_to(B + 1.0, shape)) - np.log(a + B)
            + a * (np.log(b) - np.log(b + t)) + B * (np.log(np.maximum(t, 1e-300)) - np.log(b + t)))


#: Longest window whose CPU term is tabulated (a plain quick-scan window is ~30 ticks).
MAX_TABLE_TICKS = 1024


def _common_length(window_ticks: np.ndarray) -> int:
    """The most common observed length (the scan's window, or, when earlier
    scans extend most rows' evidence, whichever length is shared most): the
    one the CPU term's table is built for; other lengths are computed per row."""
    lengths, counts = np.unique(window_ticks[window_ticks > 0], return_counts=True)
    return int(lengths[np.argmax(counts)]) if len(lengths) else 0


def _int64(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int64)


def infer(evidence: Evidence, tables: ModelTables, log_prior: np.ndarray | None = None) -> Inference:
    """Posterior for every process: log P(C|x) = log P(C) + sum of terms, normalised."""
    terms, observed = evidence_terms(evidence, tables)
    loglik = terms.transpose(1, 0, 2).sum(axis=0)      # contiguous over the feature-major store
    return Inference.from_terms(terms, observed, tables.log_prior if log_prior is None else log_prior,
                                loglik)
