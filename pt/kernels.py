"""Numeric kernels for pt: log densities, log Beta, log-sum-exp, Beta CDF and quantile.

This module is the stable public API that other scientific code embeds.  Each
function

* coerces its inputs to float64 (integer inputs for category indices), broadcasts
  them like a NumPy ufunc, and returns an array of the broadcast shape, or a NumPy
  float64 scalar when every input is a scalar;
* checks the domain and raises :class:`ValueError` naming the argument and the
  first bad value, e.g. ``a must be finite and > 0, got a[3] = -1.0``;
* then calls a compiled kernel in :mod:`pt._kernels`, which assumes valid input.

Empty and read-only arrays are accepted.  Accuracy figures and conventions are in
``docs/kernels.md``.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from pt._kernels import _betainc, _checks, _densities, _logsumexp, _special

__all__ = [
    "beta_bernoulli_logpmf",
    "beta_cdf",
    "beta_logpdf",
    "beta_ppf",
    "betaln",
    "dirichlet_categorical_logpmf",
    "gamma_logpdf",
    "logsumexp",
]


# --------------------------------------------------------------------- helpers

class _Rule(NamedTuple):
    """A domain rule: scalar test, first-violation finder for a flat array, and its wording."""

    holds: Callable[[float], bool]
    first_bad: Callable[[np.ndarray], int]
    text: str                            # completes "<name> must ..."
    integer: bool = False                # integer dtype required (category indices)


def _first_true(mask):
    return int(np.argmax(mask)) if mask.any() else -1


_POSITIVE = _Rule(lambda v: 0.0 < v < math.inf, _checks.first_not_positive, "be finite and > 0")
_NOT_NAN = _Rule(lambda v: not math.isnan(v), _checks.first_nan, "not be NaN")
_PROBABILITY = _Rule(lambda v: 0.0 <= v <= 1.0, _checks.first_outside_unit, "be in [0, 1]")
_BINARY = _Rule(lambda v: v in (0, 1), lambda k: _first_true((k != 0) & (k != 1)), "be 0 or 1",
                integer=True)


def _scalar_ok(specs):
    """True if every (name, value, rule) value is a scalar number (the fast path); validates them."""
    for _, value, rule in specs:
        if not isinstance(value, int if rule.integer else (float, int)):
            return False
    for name, value, rule in specs:
        if not rule.holds(value):
            shown = int(value) if rule.integer else float(value)
            raise ValueError(f"{name} must {rule.text}, got {shown!r}")
    return True


def _as_array(name, value, integer=False):
    """``value`` as a float64 (or, for indices, integer) ndarray; no copy if it already is one."""
    arr = np.asarray(value)
    kinds = "biu" if integer else "biuf"
    if arr.dtype.kind not in kinds:
        raise ValueError(f"{name} must be {'integers' if integer else 'real numbers'}, "
                         f"got dtype {arr.dtype}")
    return arr.astype(np.int64 if integer else np.float64, copy=False)


def _reject(name, arr, flat_index, text):
    """Raise ValueError("<name> must <text>, got <name>[i, j] = v") for one element."""
    if arr.ndim == 0:
        raise ValueError(f"{name} must {text}, got {arr.item()!r}")
    index = np.unravel_index(flat_index, arr.shape)
    where = ", ".join(str(int(i)) for i in index)
    raise ValueError(f"{name} must {text}, got {name}[{where}] = {arr[index].item()!r}")


def _valid_arrays(specs):
    """Coerce, validate and broadcast (name, value, rule) specs.

    Returns the broadcast shape and one C-contiguous 1-D array per spec.  Inputs that
    are already contiguous with equal shapes are used in place (``np.ravel`` views);
    otherwise they are broadcast and copied once.
    """
    arrays, flats = [], []
    for name, value, rule in specs:
        arr = _as_array(name, value, rule.integer)
        flat = np.ravel(arr)
        bad = rule.first_bad(flat)
        if bad >= 0:
            _reject(name, arr, bad, rule.text)
        arrays.append(arr)
        flats.append(flat)
    shape = arrays[0].shape
    if any(arr.shape != shape for arr in arrays[1:]):
        shape = np.broadcast_shapes(*(arr.shape for arr in arrays))
        flats = [np.ravel(np.broadcast_to(arr, shape)) for arr in arrays]
    return shape, flats


def _shaped(flat, shape):
    """Kernel output reshaped; 0-d becomes a float64 scalar as NumPy ufuncs return."""
    out = flat.reshape(shape)
    return out[()] if out.ndim == 0 else out


# --------------------------------------------------------------------- API

def betaln(a, b):
    r"""Natural log of the Beta function, :math:`\log B(a, b)`.

    Parameters
    ----------
    a, b : array_like of float
        Positive finite parameters, broadcast together.

    Returns
    -------
    ndarray of float64 or numpy.float64
        :math:`\log B(a, b)` with the broadcast shape; a scalar for scalar input.

    Raises
    ------
    ValueError
        If an argument is not real, or an element is not finite and > 0.

    Notes
    -----
    :math:`\log B(a, b) = \log\Gamma(a) + \log\Gamma(b) - \log\Gamma(a + b)`,
    evaluated as in DiDonato & Morris, ACM TOMS 708 (``betaln``): for
    :math:`\min(a, b) \ge 8` the three Stirling series are combined with
    :math:`h = a/b` so that nothing cancels; for :math:`a < 8 \le b`,
    :math:`\log\Gamma(a) + \log(\Gamma(b)/\Gamma(a + b))` with the ratio from
    ``algdiv``.  Relative error is about 1e-16 where the naive formula (and
    SciPy's ``betaln`` for :math:`b/a` between 1e3 and 1e6) loses digits.

    Examples
    --------
    >>> from pt.kernels import betaln
    >>> float(betaln(2.0, 3.0))   # log(1/12)
    -2.4849066497880004
    """
    specs = (("a", a, _POSITIVE), ("b", b, _POSITIVE))
    if _scalar_ok(specs):
        return np.float64(_special.betaln_scalar(a, b))
    shape, (a, b) = _valid_arrays(specs)
    return _shaped(_special.betaln(a, b), shape)


def beta_logpdf(x, a, b):
    r"""Log density of the Beta(a, b) distribution, like ``scipy.stats.beta.logpdf``.

    Parameters
    ----------
    x : array_like of float
        Points; anything outside the closed support [0, 1] gives ``-inf``.
    a, b : array_like of float
        Positive finite shape parameters.  All three broadcast together.

    Returns
    -------
    ndarray of float64 or numpy.float64
        The log density with the broadcast shape.

    Raises
    ------
    ValueError
        If ``x`` has a NaN or ``a``/``b`` an element that is not finite and > 0.

    Notes
    -----
    :math:`(a - 1)\log x + (b - 1)\log(1 - x) - \log B(a, b)`, with SciPy's
    ``xlogy`` convention :math:`0 \log 0 = 0` at the ends: at :math:`x = 0`
    the value is :math:`+\infty` for :math:`a < 1`, :math:`\log b` for
    :math:`a = 1` and :math:`-\infty` for :math:`a > 1` (mirrored at
    :math:`x = 1`), exactly as ``scipy.stats.beta.logpdf``.  For
    :math:`a, b \ge 8` the Stirling form of
    :math:`\log(x^a (1-x)^b / B(a, b))` (TOMS 708 ``brcomp``) replaces the
    three large cancelling terms, so large parameters keep full accuracy.

    Examples
    --------
    >>> from pt.kernels import beta_logpdf
    >>> float(beta_logpdf(0.5, 2.0, 2.0))   # log(1.5)
    0.4054651081081644
    """
    specs = (("x", x, _NOT_NAN), ("a", a, _POSITIVE), ("b", b, _POSITIVE))
    if _scalar_ok(specs):
        return np.float64(_densities.beta_logpdf_scalar(x, a, b))
    shape, (x, a, b) = _valid_arrays(specs)
    return _shaped(_densities.beta_logpdf(x, a, b), shape)


def gamma_logpdf(x, shape, scale):
    r"""Log density of the Gamma(shape, scale) distribution, like ``scipy.stats.gamma.logpdf``.

    Parameters
    ----------
    x : array_like of float
        Points; negative values give ``-inf``.
    shape, scale : array_like of float
        Positive finite shape :math:`k` and scale :math:`\theta`.  All three broadcast.

    Returns
    -------
    ndarray of float64 or numpy.float64
        The log density with the broadcast shape.

    Raises
    ------
    ValueError
        If ``x`` has a NaN or ``shape``/``scale`` an element that is not finite and > 0.

    Notes
    -----
    With :math:`y = x/\theta`: :math:`(k - 1)\log y - y - \log\Gamma(k) - \log\theta`.
    At :math:`x = 0` the value is :math:`+\infty` for :math:`k < 1`,
    :math:`-\log\theta` for :math:`k = 1` and :math:`-\infty` for :math:`k > 1`,
    as in SciPy.  At :math:`x = +\infty` it is :math:`-\infty` (the limit;
    SciPy returns NaN there when :math:`k > 1`).  For :math:`k \ge 8` Stirling's
    series gives :math:`-k\,\mathrm{rlog1}(y/k - 1) - \log y + \tfrac12\log k
    - \tfrac12\log 2\pi - \delta(k) - \log\theta` with
    :math:`\mathrm{rlog1}(t) = t - \log(1 + t)`, which does not cancel for large
    :math:`k`.

    Examples
    --------
    >>> from pt.kernels import gamma_logpdf
    >>> float(gamma_logpdf(1.0, 1.0, 2.0))   # log(exp(-1/2) / 2)
    -1.1931471805599454
    """
    specs = (("x", x, _NOT_NAN), ("shape", shape, _POSITIVE), ("scale", scale, _POSITIVE))
    if _scalar_ok(specs):
        return np.float64(_densities.gamma_logpdf_scalar(x, shape, scale))
    out_shape, (x, shape, scale) = _valid_arrays(specs)
    return _shaped(_densities.gamma_logpdf(x, shape, scale), out_shape)


def beta_bernoulli_logpmf(k, a, b):
    r"""Log pmf of one Bernoulli trial whose success probability has a Beta(a, b) prior.

    Parameters
    ----------
    k : array_like of int
        Outcomes, 0 or 1 (integer or bool dtype).
    a, b : array_like of float
        Positive finite Beta parameters.  All three broadcast together.

    Returns
    -------
    ndarray of float64 or numpy.float64
        :math:`\log P(k)` with the broadcast shape.

    Raises
    ------
    ValueError
        If ``k`` is not integer or not 0/1, or ``a``/``b`` not finite and > 0.

    Notes
    -----
    The Beta-Binomial marginal with one trial (``scipy.stats.betabinom.logpmf(k, 1, a, b)``):
    :math:`P(1) = a/(a + b)` and :math:`P(0) = b/(a + b)`, evaluated as
    :math:`-\operatorname{log1p}(b/a)` and :math:`-\operatorname{log1p}(a/b)`.

    Examples
    --------
    >>> from pt.kernels import beta_bernoulli_logpmf
    >>> float(beta_bernoulli_logpmf(1, 2.0, 6.0))   # log(1/4)
    -1.3862943611198906
    """
    specs = (("k", k, _BINARY), ("a", a, _POSITIVE), ("b", b, _POSITIVE))
    if _scalar_ok(specs):
        return np.float64(_densities.beta_bernoulli_logpmf_scalar(k, a, b))
    shape, (k, a, b) = _valid_arrays(specs)
    return _shaped(_densities.beta_bernoulli_logpmf(k, a, b), shape)


def dirichlet_categorical_logpmf(k, alpha):
    r"""Log pmf of one categorical draw whose probabilities have a Dirichlet(alpha) prior.

    Parameters
    ----------
    k : array_like of int
        Category indices in ``[0, K)``, broadcast against ``alpha.shape[:-1]``.
    alpha : array_like of float, shape (..., K)
        Positive finite concentration parameters, categories on the last axis.

    Returns
    -------
    ndarray of float64 or numpy.float64
        :math:`\log P(k)` with shape ``np.broadcast_shapes(k.shape, alpha.shape[:-1])``.

    Raises
    ------
    ValueError
        If ``alpha`` is a scalar or has no category, an element of ``alpha`` is not
        finite and > 0, ``k`` is not integer or out of range, or the shapes do not
        broadcast.

    Notes
    -----
    The Dirichlet-multinomial marginal with one trial
    (``scipy.stats.dirichlet_multinomial.logpmf`` with ``n = 1`` and one-hot ``x``):
    :math:`\log(\alpha_k / \sum_j \alpha_j)`, taking the log of the ratio (one
    rounding) rather than a difference of two logs.  Each row total is computed
    once however many draws share the row.

    Examples
    --------
    >>> from pt.kernels import dirichlet_categorical_logpmf
    >>> float(dirichlet_categorical_logpmf(2, [1.0, 1.0, 2.0]))   # log(2/4)
    -0.6931471805599453
    """
    shape, (alpha,) = _valid_arrays((("alpha", alpha, _POSITIVE),))
    alpha = alpha.reshape(shape)
    if alpha.ndim == 0 or alpha.shape[-1] == 0:
        raise ValueError(
            f"alpha must have categories on its last axis (at least one), got shape {alpha.shape}")
    k = _as_array("k", k, integer=True)
    n_cat = alpha.shape[-1]
    bad = _first_true((k < 0) | (k >= n_cat))
    if bad >= 0:
        _reject("k", k, bad, f"be in [0, {n_cat})")
    batch = alpha.shape[:-1]
    try:
        shape = np.broadcast_shapes(k.shape, batch)
    except ValueError:
        raise ValueError(
            f"k with shape {k.shape} does not broadcast against alpha.shape[:-1] = {batch}") from None
    rows = alpha.reshape(math.prod(batch), n_cat)
    if k.shape == batch:
        flat = _densities.dirichlet_categorical_logpmf(np.ravel(k), rows)
    else:
        row = np.arange(rows.shape[0], dtype=np.int64).reshape(batch)
        flat = _densities.dirichlet_categorical_logpmf(
            np.ravel(np.broadcast_to(k, shape)), rows, np.ravel(np.broadcast_to(row, shape)))
    return _shaped(flat, shape)


def logsumexp(a, axis=-1):
    r"""Log of the sum of exponentials along an axis, like ``scipy.special.logsumexp(a, axis=axis)``.

    Parameters
    ----------
    a : array_like of float
        Input without NaN; infinities are allowed.
    axis : int or None, default -1
        Axis to reduce; ``None`` reduces over all elements.  A 0-d input is
        treated as one element.

    Returns
    -------
    ndarray of float64 or numpy.float64
        ``a`` reduced along ``axis``; a scalar when the result is 0-d.

    Raises
    ------
    ValueError
        If ``a`` is not real or contains NaN, or ``axis`` is out of range.

    Notes
    -----
    With :math:`m = \max_i a_i` (first occurrence :math:`j`),
    :math:`m + \operatorname{log1p}(\sum_{i \ne j} e^{a_i - m})`.  A reduction that
    is empty or all :math:`-\infty` gives :math:`-\infty`; any :math:`+\infty`
    gives :math:`+\infty` (as SciPy).  Rows are reduced by a compiled loop, so
    many short rows cost little more than the exponentials.

    Examples
    --------
    >>> from pt.kernels import logsumexp
    >>> float(logsumexp([0.0, 0.0]))   # log 2
    0.6931471805599453
    """
    shape, (flat,) = _valid_arrays((("a", a, _NOT_NAN),))
    a = flat.reshape(shape)
    if axis is None or a.ndim == 0:
        rows = a.reshape(1, a.size)
        shape = ()
    else:
        if not -a.ndim <= axis < a.ndim:
            raise ValueError(f"axis must be in [{-a.ndim}, {a.ndim}) for a with shape {a.shape}, got {axis!r}")
        if axis % a.ndim != a.ndim - 1:
            a = np.ascontiguousarray(np.moveaxis(a, axis, -1))
        shape = a.shape[:-1]
        rows = a.reshape(math.prod(shape), a.shape[-1])
    return _shaped(_logsumexp.logsumexp_rows(rows), shape)


def beta_cdf(x, a, b):
    r"""Beta(a, b) distribution function: the regularised incomplete beta :math:`I_x(a, b)`.

    Parameters
    ----------
    x : array_like of float
        Points; values below 0 give 0 and above 1 give 1.
    a, b : array_like of float
        Positive finite parameters.  All three broadcast together.

    Returns
    -------
    ndarray of float64 or numpy.float64
        :math:`I_x(a, b) = \int_0^x t^{a-1}(1-t)^{b-1}\,dt / B(a, b)`.

    Raises
    ------
    ValueError
        If ``x`` has a NaN or ``a``/``b`` an element that is not finite and > 0.

    Notes
    -----
    DiDonato & Morris, ACM TOMS 708 (``bratio``): power series, continued
    fraction, the shift :math:`I_x(a, b) - I_x(a + n, b)`, and asymptotic
    expansions for a large parameter with the other :math:`\le 1` and for tiny
    parameters, chosen so that the smaller of :math:`I_x` and :math:`1 - I_x`
    is computed directly.  Matches ``scipy.special.betainc`` on [0, 1].

    Examples
    --------
    >>> from pt.kernels import beta_cdf
    >>> float(beta_cdf(0.5, 2.0, 3.0))   # 11/16
    0.6875
    """
    specs = (("x", x, _NOT_NAN), ("a", a, _POSITIVE), ("b", b, _POSITIVE))
    if _scalar_ok(specs):
        return np.float64(_betainc.beta_cdf_scalar(x, a, b))
    shape, (x, a, b) = _valid_arrays(specs)
    return _shaped(_betainc.beta_cdf(x, a, b), shape)


def beta_ppf(q, a, b):
    r"""Beta(a, b) quantile function: the inverse of :math:`I_x(a, b)` in :math:`x`.

    Parameters
    ----------
    q : array_like of float
        Probabilities in [0, 1]; ``q = 0`` gives 0 and ``q = 1`` gives 1.
    a, b : array_like of float
        Positive finite parameters.  All three broadcast together.

    Returns
    -------
    ndarray of float64 or numpy.float64
        :math:`x` with :math:`I_x(a, b) = q`, broadcast shape.

    Raises
    ------
    ValueError
        If ``q`` is outside [0, 1] (or NaN) or ``a``/``b`` not finite and > 0.

    Notes
    -----
    Starting from the Cran, Martin & Thomas (AS R19 / AS 109) approximation,
    Halley's method on :math:`t = \log x` solves
    :math:`G(t) = \log(W/P) = 0`, where :math:`P = \min(q, 1 - q)` and
    :math:`W` is the matching tail :math:`I_x` or :math:`1 - I_x` from
    :func:`beta_cdf`'s algorithm; :math:`G' = \pm x f(x)/W` and
    :math:`G'' = G'\,(a - (b - 1)x/(1 - x) - G')` with :math:`f` the density.
    Working on log x and on the small tail keeps full relative accuracy for
    tiny quantiles (e.g. ``q = 1e-300``) and tiny or huge parameters; the
    iteration stays inside the bracket of the points tried.

    Examples
    --------
    >>> from pt.kernels import beta_ppf
    >>> float(beta_ppf(0.25, 1.0, 1.0))
    0.25
    """
    specs = (("q", q, _PROBABILITY), ("a", a, _POSITIVE), ("b", b, _POSITIVE))
    if _scalar_ok(specs):
        return np.float64(_betainc.beta_ppf_scalar(q, a, b))
    shape, (q, a, b) = _valid_arrays(specs)
    return _shaped(_betainc.beta_ppf(q, a, b), shape)
