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
    for the hierarchical features, per-class pairs ``(4,)`` for the others, and
    log-probability tables ``(levels, 4)`` for the categorical features."""

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
        self.surv_a, self.surv_b = pair_table("survival")
        self.runtime_shape, self.runtime_scale = (np.array(v) for v in zip(
            *(priors.pairs["runtime"][c] for c in CLASSES)))
        self.orphan_a, self.orphan_b = (np.array(v) for v in zip(
            *(priors.pairs["orphan"][c] for c in CLASSES)))
        self.io_a, self.io_b = (np.array(v) for v in zip(
            *(priors.pairs["io_window"][c] for c in CLASSES)))
        # One categorical draw: log(alpha_k / sum(alpha)), the Dirichlet-categorical marginal.
        self.categorical = {}
        for feature in CATEGORICAL:
            alphas = np.array([priors.categorical[feature][c] for c in CLASSES])    # (4, L)
            levels = np.arange(alphas.shape[1])
            self.categorical[feature] = kernels.dirichlet_categorical_logpmf(
                levels[:, None], alphas[None, :, :])                                 # (L, 4)


@dataclass(frozen=True)
class Inference:
    """The evidence matrix and everything derived from it.

    ``terms``: ``(n, F, 4)`` log-likelihood of each feature under each class
    (0 where not observed); ``observed``: ``(n, F)``; ``log_posterior``:
    ``(n, 4)``; ``posterior``: its exponent.
    """

    terms: np.ndarray
    observed: np.ndarray
    log_prior: np.ndarray
    log_posterior: np.ndarray

    @property
    def posterior(self) -> np.ndarray:
        return np.exp(self.log_posterior)

    @property
    def log_likelihood(self) -> np.ndarray:
        """``(n, 4)``: the sum of all terms, the data's log marginal likelihood per class."""
        return self.terms.sum(axis=1)

    def log_bayes_factors(self, num: int = ABANDONED, den: int = USEFUL) -> np.ndarray:
        """``(n, F)``: per-feature natural-log Bayes factor of class ``num`` over ``den``."""
        return self.terms[:, :, num] - self.terms[:, :, den]

    def bits(self, num: int = ABANDONED, den: int = USEFUL) -> np.ndarray:
        """``(n,)``: total evidence for ``num`` over ``den`` in bits (log2 Bayes factor)."""
        return self.log_bayes_factors(num, den).sum(axis=1) / LN2


def evidence_terms(evidence: Evidence, tables: ModelTables) -> tuple[np.ndarray, np.ndarray]:
    """The ``(n, F, 4)`` term matrix and the ``(n, F)`` observed mask."""
    n = len(evidence)
    terms = np.zeros((n, len(FEATURES), N_CLASSES))
    observed = np.zeros((n, len(FEATURES)), dtype=bool)
    category = np.where(evidence.command >= 0, evidence.command, len(CATEGORICAL_LEVELS["command"]) - 1)

    def put(feature, values, mask):
        j = FEATURES.index(feature)
        terms[mask, j] = values
        observed[:, j] = mask

    # CPU over the window: Beta-Binomial marginal of k ticks out of n (zero is ordinary).
    mask = evidence.window_ticks > 0
    k = evidence.cpu_ticks[mask, None].astype(np.float64)
    nt = evidence.window_ticks[mask, None].astype(np.float64)
    k = np.minimum(k, nt)  # a multi-threaded process can exceed one CPU; cap at "fully busy"
    a, b = tables.cpu_alpha[category[mask]], tables.cpu_beta[category[mask]]
    log_choose = -np.log1p(nt) - kernels.betaln(k + 1, nt - k + 1)
    put("cpu_window", log_choose + kernels.betaln(k + a, nt - k + b) - kernels.betaln(a, b), mask)

    # Runtime: Gamma density of age per class, and the integrated survival of
    # idea C, P(alive at t) = (b / (b + t))^a for a Gamma(a, b) prior on the hazard.
    age = evidence.age_s[:, None]
    mask = evidence.age_s >= 0
    put("runtime", kernels.gamma_logpdf(np.maximum(age, 1e-3), tables.runtime_shape,
                                        tables.runtime_scale)[mask], mask)
    put("survival", (-tables.surv_a[category] * np.log1p(age / tables.surv_b[category]))[mask], mask)

    for feature, values, a, b in (("orphan", evidence.orphaned, tables.orphan_a, tables.orphan_b),
                                  ("io_window", evidence.io_active, tables.io_a, tables.io_b)):
        mask = values >= 0
        put(feature, kernels.beta_bernoulli_logpmf(values[mask, None], a, b), mask)

    for feature in CATEGORICAL:
        codes = getattr(evidence, feature)
        mask = codes >= 0
        put(feature, tables.categorical[feature][codes[mask]], mask)
    return terms, observed


def infer(evidence: Evidence, tables: ModelTables, log_prior: np.ndarray | None = None) -> Inference:
    """Posterior for every process: log P(C|x) = log P(C) + sum of terms, normalised."""
    terms, observed = evidence_terms(evidence, tables)
    prior = tables.log_prior if log_prior is None else log_prior
    joint = prior + terms.sum(axis=1)
    log_post = joint - kernels.logsumexp(joint, axis=1)[:, None]
    return Inference(terms, observed, prior, log_post)
