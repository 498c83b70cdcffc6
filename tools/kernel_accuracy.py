"""Accuracy of pt.kernels and SciPy against mpmath on hard grids (the table in docs/kernels.md).

    python tools/kernel_accuracy.py            # prints a Markdown table (about a minute)

Errors are relative, |got - ref| / |ref|, for log B, the CDF and the quantile.  For
log densities and log pmfs they are |got - ref| / max(|ref|, 1): an absolute error in
a log density is the relative error of the density, so that is the meaningful scale
near 0.  References are pt.testing's mpmath functions at 50 digits (40 for the
quantile's inner loop), rounded to double.  Points where SciPy returns NaN count as
error 1 and are listed.
"""
import itertools
import warnings

import mpmath as mp
import numpy as np
import scipy.special as sc
import scipy.stats as st

import pt.kernels as K
from pt.testing import mp_beta_ppf, mp_betainc, mp_log_beta, relative_error

mp.mp.dps = 50

BETALN_PARAMS = [1e-300, 1e-10, 1e-3, 0.1, 0.5, 1.0, 2.0, 7.5, 10.0, 100.0, 1e3, 1e4, 1e6,
                 1e10, 1e15]
SHAPES = [1e-3, 0.1, 0.5, 1.0, 2.0, 10.0, 100.0, 1e4, 1e6]
PROBS = [1e-300, 1e-100, 1e-20, 1e-5, 0.01, 0.3, 0.5, 0.7, 0.99, 1 - 1e-10]


def _log_scaled(got, ref):
    got, ref = np.asarray(got, float), np.asarray(ref, float)
    same = got == ref
    with np.errstate(invalid="ignore"):
        err = np.abs(got - ref) / np.maximum(np.abs(ref), 1.0)
    return np.where(same, 0.0, np.nan_to_num(err, nan=1.0))


def _rel(got, ref):
    return np.nan_to_num(relative_error(got, ref), nan=1.0)


def betaln_rows():
    pairs = list(itertools.product(BETALN_PARAMS, repeat=2))
    a, b = map(np.array, zip(*pairs))
    ref = np.array([float(mp_log_beta(x, y)) for x, y in pairs])
    return "betaln", "a, b in 15 values 1e-300 .. 1e15 (all pairs)", _rel(K.betaln(a, b), ref), \
        _rel(sc.betaln(a, b), ref)


def beta_logpdf_rows():
    params = [0.1, 0.5, 1.0, 2.0, 10.0, 100.0, 1e4, 1e6, 1e8]
    xs = [1e-300, 1e-10, 0.01, 0.3, 0.5, 0.7, 0.99, 1 - 1e-10]
    rows = []
    for a, b in itertools.product(params, repeat=2):
        mode = min(max(a / (a + b), 1e-300), 1 - 1e-16)
        for x in xs + [mode]:
            xm, am, bm = mp.mpf(x), mp.mpf(a), mp.mpf(b)
            ref = (am - 1) * mp.log(xm) + (bm - 1) * mp.log1p(-xm) - mp_log_beta(a, b)
            rows.append((x, a, b, float(ref)))
    x, a, b, ref = map(np.array, zip(*rows))
    return ("beta_logpdf", "a, b in 0.1 .. 1e8 (9 values), x at 8 points and the mode",
            _log_scaled(K.beta_logpdf(x, a, b), ref), _log_scaled(st.beta.logpdf(x, a, b), ref))


def gamma_logpdf_rows():
    shapes = [1e-3, 0.5, 1.0, 2.0, 10.0, 1e3, 1e6, 1e10]
    rel_x = [1e-300, 1e-5, 0.5, 1.0, 2.0, 10.0, 1e3]
    rows = []
    for k, scale, r in itertools.product(shapes, [1.0, 1e-3], rel_x):
        x = r * k * scale
        xm, km, sm = mp.mpf(x), mp.mpf(k), mp.mpf(scale)
        ref = (km - 1) * mp.log(xm / sm) - xm / sm - mp.loggamma(km) - mp.log(sm)
        rows.append((x, k, scale, float(ref)))
    x, k, s, ref = map(np.array, zip(*rows))
    return ("gamma_logpdf", "shape 1e-3 .. 1e10, scale 1 and 1e-3, x = (1e-300 .. 1e3) x mean",
            _log_scaled(K.gamma_logpdf(x, k, s), ref),
            _log_scaled(st.gamma.logpdf(x, k, scale=s), ref))


def beta_bernoulli_rows():
    params = [1e-300, 1e-10, 0.1, 1.0, 10.0, 1e10, 1e300]
    rows = []
    for k, a, b in itertools.product([0, 1], params, params):
        am, bm = mp.mpf(a), mp.mpf(b)
        rows.append((k, a, b, float(mp.log((am if k else bm) / (am + bm)))))
    k, a, b, ref = map(np.array, zip(*rows))
    k = k.astype(int)
    with np.errstate(all="ignore"):
        scipy = st.betabinom.logpmf(k, 1, a, b)
    return ("beta_bernoulli_logpmf", "k in {0, 1}, a, b in 1e-300 .. 1e300 (7 values)",
            _log_scaled(K.beta_bernoulli_logpmf(k, a, b), ref), _log_scaled(scipy, ref))


def quantile_grid():
    """(q, a, b, x_ref, I_ref at x_ref) on SHAPES x SHAPES x PROBS."""
    rows = []
    for a, b in itertools.product(SHAPES, repeat=2):
        for q in PROBS:
            start = float(sc.betaincinv(a, b, q))
            x = mp_beta_ppf(q, a, b, start if 0 < start < 1 else None)
            rows.append((q, a, b, float(x)))
    return rows


def beta_cdf_rows(grid):
    rows = [(x, a, b, float(mp_betainc(a, b, x, dps=50)[0])) for q, a, b, x in grid if 0 < x < 1]
    x, a, b, ref = map(np.array, zip(*rows))
    return ("beta_cdf", "a, b in 1e-3 .. 1e6 (9 values), x at the quantiles of 10 q in 1e-300 .. 1-1e-10",
            _rel(K.beta_cdf(x, a, b), ref), _rel(sc.betainc(a, b, x), ref))


def beta_ppf_rows(grid):
    q, a, b, ref = map(np.array, zip(*grid))
    return ("beta_ppf", "same grid: q in 1e-300 .. 1-1e-10 (10 values), a, b in 1e-3 .. 1e6",
            _rel(K.beta_ppf(q, a, b), ref), _rel(sc.betaincinv(a, b, q), ref))


def main():
    warnings.simplefilter("ignore")
    grid = quantile_grid()
    results = [betaln_rows(), beta_logpdf_rows(), gamma_logpdf_rows(), beta_bernoulli_rows(),
               beta_cdf_rows(grid), beta_ppf_rows(grid)]
    print("| function | grid | points | pt max | SciPy max | pt median | SciPy median |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, grid_text, pt_err, sc_err in results:
        print(f"| `{name}` | {grid_text} | {pt_err.size} | {pt_err.max():.1e} | {sc_err.max():.1e} "
              f"| {np.median(pt_err):.1e} | {np.median(sc_err):.1e} |")
    print()
    for name, _, pt_err, sc_err in results:
        worse = int(np.sum(pt_err > 2 * sc_err + 1e-16))
        better = int(np.sum(sc_err > 2 * pt_err + 1e-16))
        print(f"{name}: pt more than 2x worse than SciPy at {worse} points, "
              f"more than 2x better at {better}; errors >= 1e-3: pt {int(np.sum(pt_err >= 1e-3))}, "
              f"SciPy {int(np.sum(sc_err >= 1e-3))}")


if __name__ == "__main__":
    main()
