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
from pt.config import CATEGORICAL_LEVELS, CLASSES, Priors

#: Evidence items, in ledger order.
FEATURES = ("cpu_window", "cpu_lifetime", "runtime", "survival", "orphan", "io_window",
            "tty", "state", "command", "cwd", "children", "network")
CATEGORICAL = ("cpu_lifetime", "tty", "state", "command", "cwd", "children", "network")
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
    -1 where not observed.
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

    def __len__(self) -> int:
        return len(self.age_s)

    def later(self, seconds: float) -> Evidence:
        """The same evidence as if ``seconds`` more had passed with no change
        (``pt scan --at``): older, and still doing what it did."""
        return Evidence(**{**self.__dict__, "age_s": self.age_s + seconds})


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

    def log_bayes_factors(self, num: int = ABANDONED, den: int = USEFUL) -> np.ndarray:
        """``(n, F)``: per-feature natural-log Bayes factor of class ``num`` over ``den``."""
        return self.terms[:, :, num] - self.terms[:, :, den]

    def bits(self, num: int = ABANDONED, den: int = USEFUL) -> np.ndarray:
        """``(n,)``: total evidence for ``num`` over ``den`` in bits (log2 Bayes factor)."""
        return self.log_bayes_factors(num, den).sum(axis=1) / LN2


def evidence_terms(evidence: Evidence, tables: ModelTables) -> tuple[np.ndarray, np.ndarray]:
    """The ``(n, F, 4)`` term matrix and the ``(n, F)`` observed mask.

    Stored feature-major, ``(F, n, 4)``, so each feature writes one contiguous
    block and the sum over features is a contiguous reduction; the returned
    arrays are transposed views. Every term is computed for every row and
    zeroed where the feature was not observed (cheaper than masked scatter).
    """
    n = len(evidence)
    by_feature = np.empty((len(FEATURES), n, N_CLASSES))
    seen = np.empty((len(FEATURES), n), dtype=bool)
    category = np.where(evidence.command >= 0, evidence.command, len(CATEGORICAL_LEVELS["command"]) - 1)

    def put(feature, values, mask):
        j = FEATURES.index(feature)
        by_feature[j] = values
        if not mask.all():
            by_feature[j][~mask] = 0.0
        seen[j] = mask

    # CPU over the window: Beta-Binomial marginal of k ticks out of n (zero is
    # ordinary); the Beta normaliser is a per-(category, class) table.
    nt = evidence.window_ticks.astype(np.float64)
    k = np.minimum(evidence.cpu_ticks, nt)[:, None]   # beyond one CPU counts as fully busy
    nt1 = np.maximum(nt, 0.0)[:, None]
    log_choose = -np.log1p(nt1) - kernels.betaln(k + 1, nt1 - k + 1)
    a, b = tables.cpu_alpha[category], tables.cpu_beta[category]
    put("cpu_window", log_choose + kernels.betaln(k + a, nt1 - k + b) - tables.cpu_log_beta[category],
        evidence.window_ticks > 0)

    # Age: Gamma(k, theta) density, (k-1) log t - t/theta - [lgamma(k) + k log theta],
    # with the bracket a per-class constant. And the integrated survival of
    # idea C, P(alive at t) = (b / (b + t))^a for a Gamma(a, rate b) hazard prior.
    age = np.maximum(evidence.age_s, 1e-3)[:, None]
    observed_age = evidence.age_s >= 0
    put("runtime", (tables.runtime_shape - 1) * np.log(age) - age / tables.runtime_scale
        - tables.runtime_log_norm, observed_age)
    put("survival", -tables.surv_a[category] * np.log1p(age / tables.surv_b[category]), observed_age)

    # Bernoulli and categorical features: one draw, so the marginal is a table lookup.
    for feature, codes in (("orphan", evidence.orphaned), ("io_window", evidence.io_active),
                           *((f, getattr(evidence, f)) for f in CATEGORICAL)):
        mask = codes >= 0
        put(feature, np.take(tables.lookup[feature], np.maximum(codes, 0), axis=0), mask)
    return by_feature.transpose(1, 0, 2), seen.T


def infer(evidence: Evidence, tables: ModelTables, log_prior: np.ndarray | None = None) -> Inference:
    """Posterior for every process: log P(C|x) = log P(C) + sum of terms, normalised."""
    terms, observed = evidence_terms(evidence, tables)
    loglik = terms.transpose(1, 0, 2).sum(axis=0)      # contiguous over the feature-major store
    return Inference.from_terms(terms, observed, tables.log_prior if log_prior is None else log_prior,
                                loglik)
