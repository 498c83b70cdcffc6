"""Benchmarks: every pt kernel against its SciPy equivalent, in the same run.

    pytest bench/ --benchmark-enable

Each case times the public ``pt.kernels`` function (validation and broadcasting
included) and the SciPy call on the same inputs at n = 1e3, 1e5 and 1e6 elements,
plus one call with Python scalars.  Pairs share a benchmark group; the end of the
run prints SciPy/pt median ratios (bench/conftest.py).  Parameters are drawn per
element (a, b ~ U(0.1, 50) for the Beta kernels), so no per-parameter work is
shared between elements, except in the two "shared" cases, where one parameter
set is broadcast against all x (the usual shape of a prior evaluated over a scan).
"""
import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as st

import pt.kernels as K

SIZES = [1_000, 100_000, 1_000_000]
ROUNDS = {1_000: 500, 100_000: 30, 1_000_000: 7}
N_CAT = 5


def _beta_params(rng, n):
    return rng.uniform(0.1, 50.0, n), rng.uniform(0.1, 50.0, n)


def betaln_case(rng, n):
    a, b = _beta_params(rng, n)
    return (lambda: K.betaln(a, b)), (lambda: sc.betaln(a, b))


def beta_logpdf_case(rng, n):
    a, b = _beta_params(rng, n)
    x = rng.beta(a, b)
    return (lambda: K.beta_logpdf(x, a, b)), (lambda: st.beta.logpdf(x, a, b))


def gamma_logpdf_case(rng, n):
    k, theta = rng.uniform(0.1, 50.0, n), rng.uniform(0.1, 10.0, n)
    x = rng.gamma(k, theta)
    return (lambda: K.gamma_logpdf(x, k, theta)), (lambda: st.gamma.logpdf(x, k, scale=theta))


def beta_logpdf_shared_case(rng, n):
    x = rng.beta(3.0, 7.0, n)                        # one (a, b) for all elements
    return (lambda: K.beta_logpdf(x, 3.0, 7.0)), (lambda: st.beta.logpdf(x, 3.0, 7.0))


def gamma_logpdf_shared_case(rng, n):
    x = rng.gamma(20.0, 2.0, n)                      # one (shape, scale) for all elements
    return (lambda: K.gamma_logpdf(x, 20.0, 2.0)), (lambda: st.gamma.logpdf(x, 20.0, scale=2.0))


def beta_bernoulli_case(rng, n):
    a, b = _beta_params(rng, n)
    k = rng.integers(0, 2, n)
    return (lambda: K.beta_bernoulli_logpmf(k, a, b)), (lambda: st.betabinom.logpmf(k, 1, a, b))


def dirichlet_categorical_case(rng, n):
    alpha = rng.uniform(0.1, 20.0, (n, N_CAT))
    k = rng.integers(0, N_CAT, n)
    onehot = np.eye(N_CAT)[k]
    return ((lambda: K.dirichlet_categorical_logpmf(k, alpha)),
            (lambda: st.dirichlet_multinomial.logpmf(onehot, alpha, 1)))


def logsumexp_rows4_case(rng, n):
    a = rng.normal(size=(n, 4))                      # n rows of 4
    return (lambda: K.logsumexp(a, axis=-1)), (lambda: sc.logsumexp(a, axis=-1))


def logsumexp_long_case(rng, n):
    a = rng.normal(size=(10, n // 10))               # 10 long rows, n elements
    return (lambda: K.logsumexp(a, axis=-1)), (lambda: sc.logsumexp(a, axis=-1))


def beta_cdf_case(rng, n):
    a, b = _beta_params(rng, n)
    x = rng.random(n)
    return (lambda: K.beta_cdf(x, a, b)), (lambda: sc.betainc(a, b, x))


def beta_ppf_case(rng, n):
    a, b = _beta_params(rng, n)
    q = rng.random(n)
    return (lambda: K.beta_ppf(q, a, b)), (lambda: sc.betaincinv(a, b, q))


def log_ndtr_case(rng, n):
    x = rng.normal(0.0, 10.0, n)                     # both tails: a third below -20 (the series)
    return (lambda: K.log_ndtr(x)), (lambda: sc.log_ndtr(x))


def gammaincc_case(rng, n):
    a = 10.0 ** rng.uniform(-1, 2, n)                # the storm posterior's shapes, and smaller
    x = a * np.exp(rng.normal(0.0, 0.5, n))          # around the mean: both sides, every region
    return (lambda: K.gammaincc(a, x)), (lambda: sc.gammaincc(a, x))


CASES = {
    "betaln": betaln_case,
    "beta_logpdf": beta_logpdf_case,
    "gamma_logpdf": gamma_logpdf_case,
    "beta_logpdf shared a, b": beta_logpdf_shared_case,
    "gamma_logpdf shared k, scale": gamma_logpdf_shared_case,
    "beta_bernoulli_logpmf": beta_bernoulli_case,
    "dirichlet_categorical": dirichlet_categorical_case,
    "logsumexp rows of 4": logsumexp_rows4_case,
    "logsumexp 10 long rows": logsumexp_long_case,
    "beta_cdf": beta_cdf_case,
    "beta_ppf": beta_ppf_case,
    "log_ndtr": log_ndtr_case,
    "gammaincc": gammaincc_case,
}

SCALAR_CALLS = {
    "betaln": ((lambda: K.betaln(2.5, 3.5)), (lambda: sc.betaln(2.5, 3.5))),
    "beta_logpdf": ((lambda: K.beta_logpdf(0.3, 2.5, 3.5)), (lambda: st.beta.logpdf(0.3, 2.5, 3.5))),
    "gamma_logpdf": ((lambda: K.gamma_logpdf(1.5, 2.5, 3.0)),
                     (lambda: st.gamma.logpdf(1.5, 2.5, scale=3.0))),
    "beta_bernoulli_logpmf": ((lambda: K.beta_bernoulli_logpmf(1, 2.5, 3.5)),
                              (lambda: st.betabinom.logpmf(1, 1, 2.5, 3.5))),
    "dirichlet_categorical": ((lambda: K.dirichlet_categorical_logpmf(2, [1.0, 2.0, 3.0, 4.0, 5.0])),
                              (lambda: st.dirichlet_multinomial.logpmf([0, 0, 1, 0, 0],
                                                                       [1.0, 2.0, 3.0, 4.0, 5.0], 1))),
    "logsumexp rows of 4": ((lambda: K.logsumexp([0.1, 0.2, 0.3, 0.4])),
                            (lambda: sc.logsumexp([0.1, 0.2, 0.3, 0.4]))),
    "beta_cdf": ((lambda: K.beta_cdf(0.3, 2.5, 3.5)), (lambda: sc.betainc(2.5, 3.5, 0.3))),
    "beta_ppf": ((lambda: K.beta_ppf(0.3, 2.5, 3.5)), (lambda: sc.betaincinv(2.5, 3.5, 0.3))),
    "log_ndtr": ((lambda: K.log_ndtr(-3.5)), (lambda: sc.log_ndtr(-3.5))),
    "gammaincc": ((lambda: K.gammaincc(7.0, 5.0)), (lambda: sc.gammaincc(7.0, 5.0))),
}


@pytest.mark.parametrize("impl", ["pt", "scipy"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kernel", list(CASES))
def test_vectorised(record, kernel, n, impl):
    pt_call, scipy_call = CASES[kernel](np.random.default_rng(0), n)
    record(kernel, f"n={n:.0e}".replace("+0", ""), impl, pt_call if impl == "pt" else scipy_call,
           ROUNDS[n])


@pytest.mark.parametrize("impl", ["pt", "scipy"])
@pytest.mark.parametrize("kernel", list(SCALAR_CALLS))
def test_scalar_call(record, kernel, impl):
    pt_call, scipy_call = SCALAR_CALLS[kernel]
    # 100 calls per timed round, so the timer's own cost does not dominate.
    record(kernel, "scalar", impl, pt_call if impl == "pt" else scipy_call, 100, iterations=100)
