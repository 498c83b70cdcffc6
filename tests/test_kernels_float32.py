"""float32 in, float32 out for the log-domain kernels, within float32 rounding
of SciPy's float64 value at the same (float32) inputs; probabilities stay float64."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as st

import pt.kernels as K

F32_RTOL = 2.0 ** -23          # one float32 ulp, relative (the result is rounded once)


def _params(n=2_000, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.05, 60.0, n).astype(np.float32)
    b = rng.uniform(0.05, 60.0, n).astype(np.float32)
    x = np.clip(rng.beta(a, b), 1e-6, 1 - 1e-6).astype(np.float32)
    return x, a, b


def _close32(got, want):
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=F32_RTOL, atol=1e-37)


def test_betaln_float32():
    _, a, b = _params()
    _close32(K.betaln(a, b), sc.betaln(a.astype(np.float64), b.astype(np.float64)))


def test_beta_logpdf_float32_per_element_and_shared():
    x, a, b = _params()
    _close32(K.beta_logpdf(x, a, b), st.beta.logpdf(x.astype(np.float64), a.astype(np.float64),
                                                     b.astype(np.float64)))
    # Python numbers are weak: a float32 x with a shared prior stays float32.
    _close32(K.beta_logpdf(x, 3.0, 7.0), st.beta.logpdf(x.astype(np.float64), 3.0, 7.0))


def test_gamma_logpdf_float32():
    rng = np.random.default_rng(2)
    k = rng.uniform(0.1, 50.0, 2_000).astype(np.float32)
    scale = rng.uniform(0.1, 10.0, 2_000).astype(np.float32)
    x = rng.gamma(k, scale).astype(np.float32)
    want = st.gamma.logpdf(x.astype(np.float64), k.astype(np.float64), scale=scale.astype(np.float64))
    _close32(K.gamma_logpdf(x, k, scale), want)


def test_discrete_and_logsumexp_float32():
    _, a, b = _params()
    k = np.arange(len(a)) % 2
    _close32(K.beta_bernoulli_logpmf(k, a, b),
             st.betabinom.logpmf(k, 1, a.astype(np.float64), b.astype(np.float64)))
    alpha = a.reshape(-1, 4)
    cat = np.arange(len(alpha)) % 4
    want = np.log(alpha.astype(np.float64)[np.arange(len(alpha)), cat] / alpha.astype(np.float64).sum(1))
    _close32(K.dirichlet_categorical_logpmf(cat, alpha), want)
    rows = np.random.default_rng(3).normal(size=(500, 4)).astype(np.float32)
    _close32(K.logsumexp(rows, axis=-1), sc.logsumexp(rows.astype(np.float64), axis=-1))


def test_float32_scalar_in_float32_scalar_out():
    out = K.betaln(np.float32(2.0), np.float32(3.0))
    assert isinstance(out, np.float32)
    assert out == np.float32(np.log(1 / 12))


@pytest.mark.parametrize("fn", [K.beta_cdf, K.beta_ppf])
def test_probabilities_stay_float64(fn):
    # A far tail (1e-60) has no float32: the CDF and quantile keep float64.
    x, a, b = _params(50)
    assert fn(x, a, b).dtype == np.float64


def test_mixed_precision_is_float64():
    x, a, b = _params(50)
    assert K.beta_logpdf(x, a.astype(np.float64), b).dtype == np.float64
    assert K.betaln(a.tolist(), b.tolist()).dtype == np.float64
