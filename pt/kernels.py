"""Numeric kernels for pt: log densities, log Beta, log-sum-exp, Beta CDF and quantile,
log of the normal CDF, the regularised upper incomplete gamma function.

This module is the stable public API that other scientific code embeds.  Each
function

* coerces its inputs to float64 (integer inputs for category indices), broadcasts
  them like a NumPy ufunc, and returns an array of the broadcast shape, or a NumPy
  float64 scalar when every input is a scalar; a log density, log pmf, ``betaln``
  or ``logsumexp`` of float32 inputs is float32 (computed in float64, rounded once);
* checks the domain and raises :class:`ValueError` naming the argument and the
  first bad value, e.g. ``a must be finite and > 0, got a[3] = -1.0``;
* then calls a compiled kernel in :mod:`pt._kernels`, which assumes valid input.

Empty and read-only arrays are accepted.  Accuracy figures and conventions are in
``docs/kernels.md``.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Union

import numpy as np
from numpy.typing import ArrayLike

#: What the element-wise functions return: an array of the broadcast shape, or
#: a NumPy scalar when every input is a scalar.
FloatResult = Union[np.ndarray, np.floating]

from pt._kernels import (
    _betainc,
    _bocpd,
    _changepoint,
    _checks,
    _cpu,
    _densities,
    _forest,
    _gammainc,
    _hawkes,
    _kalman,
    _logsumexp,
    _normal,
    _special,
)

if _cpu.has_avx2():                      # the same kernels, built for AVX2 (pt/_kernels/meson.build)
    try:
        from pt._kernels import _densities_avx2 as _densities
        from pt._kernels import _special_avx2 as _special
    except ImportError:                  # a compiler without -mavx2 built none: the baseline builds serve
        from pt._kernels import _densities, _special

__all__ = [
    "BOCPD",
    "BOCPDResult",
    "BOCPDStep",
    "BetaChangepoint",
    "KalmanResult",
    "beta_bernoulli_logpmf",
    "beta_cdf",
    "beta_logpdf",
    "beta_ppf",
    "breadth_first",
    "betaln",
    "beta_changepoint",
    "bocpd",
    "cpu_increment_logpdf",
    "dirichlet_categorical_logpmf",
    "gamma_logpdf",
    "gammaincc",
    "hawkes_baseline_posterior",
    "hawkes_loglik",
    "kalman_filter",
    "kalman_smoother",
    "log_ndtr",
    "logsumexp",
    "subtree_sums",
    "tree_marginals",
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
_NOT_NEGATIVE = _Rule(lambda v: v >= 0.0, lambda x: _first_true(~(x >= 0.0)), "be >= 0")
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


def _shaped(flat, shape, single=False):
    """Kernel output reshaped; 0-d becomes a NumPy scalar as ufuncs return;
    float32 when ``single`` (see :func:`_single`)."""
    out = flat.reshape(shape)
    if single:
        out = out.astype(np.float32)
    return out[()] if out.ndim == 0 else out


def _single(*values):
    """True when the real-valued inputs are float32 (arrays or NumPy scalars;
    Python numbers are weak, as in NumPy's promotion): a log-domain result is
    then returned as float32.  It is computed in float64 and rounded once, so
    it is the float32 nearest the exact value of the inputs given, and its
    range (logs of probabilities) fits float32.  Probabilities and quantiles
    (``beta_cdf``, ``beta_ppf``) stay float64: tail values underflow float32."""
    typed = [v.dtype for v in values if hasattr(v, "dtype")]
    return bool(typed) and all(t == np.float32 for t in typed)


# --------------------------------------------------------------------- API

def betaln(a: ArrayLike, b: ArrayLike) -> FloatResult:
    r"""Natural log of the Beta function, :math:`\log B(a, b)`.

    Parameters
    ----------
    a, b : array_like of float
        Positive finite parameters, broadcast together.

    Returns
    -------
    ndarray or NumPy scalar, float64 (float32 for float32 inputs)
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
    ``algdiv`` and :math:`\log\Gamma(a) = \log\Gamma(a + 8) - \log(a (a+1) \cdots (a+7))`,
    Stirling for :math:`a + 8`.  Relative error is about 1e-16 where the naive formula (and
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
    single = _single(a, b)
    shape, (a, b) = _valid_arrays(specs)
    return _shaped(_special.betaln(a, b), shape, single)


def beta_logpdf(x: ArrayLike, a: ArrayLike, b: ArrayLike) -> FloatResult:
    r"""Log density of the Beta(a, b) distribution, like ``scipy.stats.beta.logpdf``.

    Parameters
    ----------
    x : array_like of float
        Points; anything outside the closed support [0, 1] gives ``-inf``.
    a, b : array_like of float
        Positive finite shape parameters.  All three broadcast together.

    Returns
    -------
    ndarray or NumPy scalar, float64 (float32 for float32 inputs)
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
    single = _single(x, a, b)
    shared = np.size(a) == 1 and np.size(b) == 1
    shape, (x, a, b) = _valid_arrays(specs)
    if shared and a.size > 1 and a[0] >= 9.0 and b[0] >= 9.0:
        # One broadcast Stirling pair (a prior over many points): its terms once.
        return _shaped(_densities.beta_logpdf_shared(x, float(a[0]), float(b[0])), shape, single)
    return _shaped(_densities.beta_logpdf(x, a, b), shape, single)


def gamma_logpdf(x: ArrayLike, shape: ArrayLike, scale: ArrayLike) -> FloatResult:
    r"""Log density of the Gamma(shape, scale) distribution, like ``scipy.stats.gamma.logpdf``.

    Parameters
    ----------
    x : array_like of float
        Points; negative values give ``-inf``.
    shape, scale : array_like of float
        Positive finite shape :math:`k` and scale :math:`\theta`.  All three broadcast.

    Returns
    -------
    ndarray or NumPy scalar, float64 (float32 for float32 inputs)
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
    single = _single(x, shape, scale)
    out_shape, (x, shape, scale) = _valid_arrays(specs)
    return _shaped(_densities.gamma_logpdf(x, shape, scale), out_shape, single)


def beta_bernoulli_logpmf(k: ArrayLike, a: ArrayLike, b: ArrayLike) -> FloatResult:
    r"""Log pmf of one Bernoulli trial whose success probability has a Beta(a, b) prior.

    Parameters
    ----------
    k : array_like of int
        Outcomes, 0 or 1 (integer or bool dtype).
    a, b : array_like of float
        Positive finite Beta parameters.  All three broadcast together.

    Returns
    -------
    ndarray or NumPy scalar, float64 (float32 for float32 inputs)
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
    single = _single(a, b)
    shape, (k, a, b) = _valid_arrays(specs)
    return _shaped(_densities.beta_bernoulli_logpmf(k, a, b), shape, single)


def dirichlet_categorical_logpmf(k: ArrayLike, alpha: ArrayLike) -> FloatResult:
    r"""Log pmf of one categorical draw whose probabilities have a Dirichlet(alpha) prior.

    Parameters
    ----------
    k : array_like of int
        Category indices in ``[0, K)``, broadcast against ``alpha.shape[:-1]``.
    alpha : array_like of float, shape (..., K)
        Positive finite concentration parameters, categories on the last axis.

    Returns
    -------
    ndarray or NumPy scalar, float64 (float32 for float32 inputs)
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
    single = _single(alpha)
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
    return _shaped(flat, shape, single)


def logsumexp(a: ArrayLike, axis: int | None = -1) -> FloatResult:
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
    ndarray or NumPy scalar, float64 (float32 for float32 inputs)
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
    single = _single(a)
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
    return _shaped(_logsumexp.logsumexp_rows(rows), shape, single)


def beta_cdf(x: ArrayLike, a: ArrayLike, b: ArrayLike) -> FloatResult:
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


def beta_ppf(q: ArrayLike, a: ArrayLike, b: ArrayLike) -> FloatResult:
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


def gammaincc(a: ArrayLike, x: ArrayLike) -> FloatResult:
    r"""Regularised upper incomplete gamma function :math:`Q(a, x) = \Gamma(a, x) / \Gamma(a)`,
    like ``scipy.special.gammaincc(a, x)``.

    Parameters
    ----------
    a : array_like of float
        Positive finite shape.
    x : array_like of float
        Points :math:`\ge 0` (``inf`` gives 0).  Broadcast with ``a``.

    Returns
    -------
    ndarray of float64 or numpy.float64
        :math:`Q(a, x)`, the probability that a Gamma(a, rate 1) variable exceeds x.

    Raises
    ------
    ValueError
        If ``a`` has an element that is not finite and > 0, or ``x`` one below 0 or NaN.

    Notes
    -----
    The regions of SciPy's ``igamc`` (DiDonato & Morris 1986): a series for
    :math:`Q` itself where :math:`x \le 1.1` and :math:`a` is small (it keeps
    relative accuracy as :math:`Q \sim a E_1(x) \to 0`), the continued fraction
    for :math:`x > 1.1, x \ge a`, :math:`1 - P` by the power series elsewhere,
    and Temme's uniform expansion from :math:`a = 10^{10}`.  The prefactor
    :math:`x^a e^{-x}/\Gamma(a)` uses Stirling from :math:`a = 20` so that no large
    exponents cancel.  Cost grows as :math:`\sqrt{a}` near :math:`x = a`.

    Examples
    --------
    >>> from pt.kernels import gammaincc
    >>> float(gammaincc(1.0, 2.0))   # exp(-2)
    0.1353352832366127
    """
    specs = (("a", a, _POSITIVE), ("x", x, _NOT_NEGATIVE))
    if _scalar_ok(specs):
        return np.float64(_gammainc.gammaincc_scalar(a, x))
    shape, (a, x) = _valid_arrays(specs)
    return _shaped(_gammainc.gammaincc(a, x), shape)


def log_ndtr(x: ArrayLike) -> FloatResult:
    r"""Log of the standard normal distribution function, :math:`\log \Phi(x)`,
    like ``scipy.special.log_ndtr``.

    Parameters
    ----------
    x : array_like of float
        Any real numbers but NaN (``-inf`` gives ``-inf``, ``inf`` gives 0).

    Returns
    -------
    ndarray or NumPy scalar, float64 (float32 for float32 input)
        :math:`\log \Phi(x)`, same shape.

    Raises
    ------
    ValueError
        If ``x`` is not real or has a NaN.

    Notes
    -----
    :math:`\Phi(x) = \mathrm{erfc}(-x/\sqrt{2})/2` with libm's ``erfc``
    (relative accuracy into the tail): ``log1p`` of minus the upper tail for
    :math:`x > 0`, the log of the lower tail down to :math:`x = -20`, and the
    asymptotic series :math:`-x^2/2 - \log(-x) - \log(2\pi)/2 + \log(1 - x^{-2} + 3x^{-4} - \dots)`
    (ten terms) below, so the result keeps relative accuracy for any :math:`x`.

    Examples
    --------
    >>> from pt.kernels import log_ndtr
    >>> float(log_ndtr(0.0))   # log(1/2)
    -0.6931471805599453
    """
    specs = (("x", x, _NOT_NAN),)
    if _scalar_ok(specs):
        return np.float64(_normal.log_ndtr_scalar(x))
    single = _single(x)
    shape, (x,) = _valid_arrays(specs)
    return _shaped(_normal.log_ndtr(x), shape, single)


# --------------------------------------------------------------------- time series
#
# Validation helpers shared by the series kernels: a series is a 1-D float64 array.

def _scalar(name, value, low=None, high=None, low_open=True, high_open=True):
    """``value`` as a float within (low, high) (bounds open unless told), else ValueError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if isinstance(value, (bool, np.bool_)) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return v


def _integer(name, value, low):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return int(value)


def _series(name, value, length=None, rule=None):
    """A 1-D contiguous float64 copy-free view of ``value``; scalars broadcast to ``length``."""
    arr = _as_array(name, value)
    if arr.ndim == 0 and length is not None:
        arr = np.full(length, arr.item(), dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name} must have length {length} (one per observation), got {arr.shape[0]}")
    arr = np.ascontiguousarray(arr)
    bad = _first_true(~np.isfinite(arr))
    if bad >= 0:
        _reject(name, arr, bad, "be finite")
    if rule == "count":
        bad = _first_true((arr < 0) | (arr != np.floor(arr)) | (arr > 2.0**53))
        if bad >= 0:
            _reject(name, arr, bad, "be a non-negative integer count")
    elif rule == "positive":
        bad = _first_true(arr <= 0)
        if bad >= 0:
            _reject(name, arr, bad, "be > 0")
    return arr


_BOCPD_MODELS = {"poisson": 0, "binomial": 1}


class BOCPDResult(NamedTuple):
    """Per-step output of :func:`bocpd` (arrays of length T, one entry per observation)."""

    map_run_length: np.ndarray        #: int64, argmax_r P(r_t = r | x_1..t)
    map_prob: np.ndarray              #: its posterior probability
    cp_prob: np.ndarray               #: P(r_t = 0 | x_1..t): x_t opens a new segment
    recent_cp_prob: np.ndarray        #: P(r_t < window | x_1..t): a change in the last window samples
    mean_run_length: np.ndarray       #: E[r_t | x_1..t]
    log_pred: np.ndarray              #: log p(x_t | x_1..t-1), the one-step predictive
    log_evidence: float               #: log p(x_1..T) (a lower bound when pruning dropped mass)
    pruned_mass: float                #: total posterior probability dropped by pruning (0 if exact)
    max_active: int                   #: most run lengths evaluated in one step
    mean_active: float                #: mean run lengths evaluated per step
    run_length_posterior: np.ndarray | None  #: (T, T): [t, r] = P(r_t = r | x_1..t), if asked


class BOCPDStep(NamedTuple):
    """One :meth:`BOCPD.update`: the same quantities as a row of :class:`BOCPDResult`."""

    map_run_length: int
    map_prob: float
    cp_prob: float
    recent_cp_prob: float
    mean_run_length: float
    log_pred: float


class BOCPD:
    r"""Streaming Bayesian online change-point detector (Adams & MacKay 2007) for one series.

    Holds the run-length posterior and advances it one observation at a time in
    O(active run lengths); :func:`bocpd` is the batch form and documents the model.

    Parameters
    ----------
    model : {"poisson", "binomial"}
        ``"poisson"``: counts per sample (CPU ticks, context switches, IO bytes),
        Gamma(a, rate b) prior on the rate per unit exposure.  ``"binomial"``: k
        successes of n trials per sample (CPU share: busy ticks of elapsed ticks),
        Beta(a, b) prior on the success probability.
    hazard : float
        Constant change-point hazard H = 1/lambda in (0, 1), lambda the expected
        segment length in samples.
    prior : (float, float)
        (a, b) of the Gamma (shape, rate) or Beta prior; finite and > 0.
    prune_threshold : float
        Drop run lengths whose posterior probability falls below this, in [0, 1);
        0 keeps every run length (exact, O(t) per step).
    max_run_length : int or None
        Keep at most this many run lengths (the least probable goes first).
    window : int
        ``recent_cp_prob`` is P(r_t < window | x_1..t).
    keep_recent : int
        Run lengths below this are never pruned (threshold or cap): a new segment
        starts improbable and needs a few samples to gain probability.

    Examples
    --------
    >>> from pt.kernels import BOCPD
    >>> det = BOCPD("poisson", hazard=0.01)
    >>> for x in [3, 2, 4, 3, 40, 38]:
    ...     step = det.update(x)
    >>> step.map_run_length, det.t
    (1, 6)
    """

    def __init__(self, model: str = "poisson", *, hazard: float = 0.01,
                 prior: tuple[float, float] = (1.0, 1.0), prune_threshold: float = 1e-9,
                 max_run_length: int | None = None, window: int = 5, keep_recent: int = 64) -> None:
        if model not in _BOCPD_MODELS:
            raise ValueError(f"model must be one of {sorted(_BOCPD_MODELS)}, got {model!r}")
        hazard = _scalar("hazard", hazard, 0.0, 1.0)
        try:
            a0, b0 = prior
        except (TypeError, ValueError):
            raise ValueError(f"prior must be a pair (a, b), got {prior!r}") from None
        a0 = _scalar("prior[0]", a0, 0.0)
        b0 = _scalar("prior[1]", b0, 0.0)
        threshold = _scalar("prune_threshold", prune_threshold, 0.0, 1.0, low_open=False)
        cap = 0 if max_run_length is None else _integer("max_run_length", max_run_length, 1)
        window = _integer("window", window, 1)
        keep = _integer("keep_recent", keep_recent, 0)
        self.model = model
        self._core = _bocpd.BocpdCore(_BOCPD_MODELS[model], hazard, a0, b0, threshold, cap, window,
                                      keep, 64 if cap == 0 else cap + keep + 2)

    @property
    def t(self) -> int:
        """Observations seen."""
        return self._core.t

    @property
    def log_evidence(self) -> float:
        """log p(x_1..t) (a lower bound on the exact value once pruning dropped mass)."""
        return self._core.log_evidence

    @property
    def pruned_mass(self) -> float:
        """Total posterior probability dropped by pruning so far."""
        return self._core.pruned_mass

    def run_length_posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """(r, p): run lengths kept for the next step, ascending, and their probabilities."""
        r, p = self._core.run_lengths()
        order = np.argsort(r)
        return r[order], p[order]

    def _check_obs(self, x, n):
        """Validated (x, exposure-or-trials) for one observation."""
        if self.model == "poisson":
            x = _scalar("x", x, 0.0, 2.0**53, low_open=False, high_open=False)
            if x != math.floor(x):
                raise ValueError(f"x must be a non-negative integer count, got {x!r}")
            return x, _scalar("exposure", 1.0 if n is None else n, 0.0)
        if n is None:
            raise ValueError("trials must be given for model='binomial'")
        x = _scalar("x", x, 0.0, 2.0**53, low_open=False, high_open=False)
        n = _scalar("trials", n, 0.0, 2.0**53, low_open=False, high_open=False)
        if x != math.floor(x) or n != math.floor(n):
            raise ValueError(f"x and trials must be integers, got x={x!r}, trials={n!r}")
        if x > n:
            raise ValueError(f"x must be <= trials, got x={x!r} > trials={n!r}")
        return x, n

    def update(self, x: float, n: float | None = None) -> BOCPDStep:
        """Absorb one observation: count ``x`` (with exposure ``n``, default 1) for
        ``"poisson"``, ``x`` successes of ``n`` trials for ``"binomial"``."""
        return BOCPDStep(*self._core.update(*self._check_obs(x, n)))

    def update_many(self, x: ArrayLike, n: ArrayLike | None = None, *,
                    return_matrix: bool = False) -> BOCPDResult:
        """Absorb a series at once (the compiled loop of :func:`bocpd`); the state carries on."""
        x, e = _bocpd_inputs(self.model, x, n)
        core = self._core
        pruned0, active0, t0 = core.pruned_mass, core.active_sum, core.t
        map_r, summ, post = _bocpd.bocpd_batch(core, x, e, bool(return_matrix))
        steps = core.t - t0
        return BOCPDResult(map_r, summ[0], summ[1], summ[2], summ[3], summ[4], core.log_evidence,
                           core.pruned_mass - pruned0, core.max_active,
                           (core.active_sum - active0) / steps if steps else 0.0, post)


def _bocpd_inputs(model, x, n):
    x = _series("x", x, rule="count")
    if model == "poisson":
        e = np.ones_like(x) if n is None else _series("exposure", n, x.shape[0], rule="positive")
    else:
        if n is None:
            raise ValueError("trials must be given for model='binomial'")
        e = _series("trials", n, x.shape[0], rule="count")
        bad = _first_true(x > e)
        if bad >= 0:
            raise ValueError(f"x must be <= trials, got x[{bad}] = {x[bad]!r} > trials[{bad}] = {e[bad]!r}")
    return x, e


def bocpd(x: ArrayLike, *, model: str = "poisson", trials: ArrayLike | None = None,
          exposure: ArrayLike | None = None, hazard: float = 0.01,
          prior: tuple[float, float] = (1.0, 1.0), prune_threshold: float = 1e-9,
          max_run_length: int | None = None, window: int = 5, keep_recent: int = 64,
          return_matrix: bool = False) -> BOCPDResult:
    r"""Bayesian online change-point detection (Adams & MacKay 2007) over one series.

    Parameters
    ----------
    x : array_like, shape (T,)
        Non-negative integer counts per sample (``model="poisson"``), or successes
        per sample (``model="binomial"``).  Float arrays with integral values are fine.
    model : {"poisson", "binomial"}
        Conjugate observation model: Gamma-Poisson or Beta-Binomial (see Notes).
    trials : array_like or int, shape (T,)
        Binomial trials per sample, >= x (required for ``"binomial"``).
    exposure : array_like or float, shape (T,), optional
        Poisson exposure per sample (e.g. the sampling interval in seconds), > 0;
        default 1.  The rate is per unit exposure, so uneven intervals are handled.
    hazard : float
        Constant hazard H in (0, 1): P(change before any given sample) = 1/lambda.
    prior : (float, float)
        Gamma(shape a, rate b) prior of the Poisson rate, or Beta(a, b) prior of the
        binomial probability; both > 0 and finite.  Used afresh in every segment.
    prune_threshold : float, default 1e-9
        Run lengths with posterior probability below this are dropped (in [0, 1);
        0 = exact, O(T^2) in total).  The most probable run length is always kept.
    max_run_length : int, optional
        Additionally keep at most this many run lengths, dropping the least probable.
    window : int, default 5
        ``recent_cp_prob[t] = P(r_t < window | x_1..t)``.
    keep_recent : int, default 64
        Run lengths below this are exempt from pruning.  A run opened by a real
        change starts with probability of order H times a likelihood ratio (often
        1e-10 or less) and a small change needs tens of samples to win; pruning it
        early would make the change undetectable.
    return_matrix : bool
        Also return the dense (T, T) run-length posterior (memory 8 T^2 bytes).

    Returns
    -------
    BOCPDResult
        Per-step MAP run length and probability, ``cp_prob``, ``recent_cp_prob``,
        mean run length, one-step log predictive; total log evidence, pruned mass,
        active run-length counts, and optionally the matrix.

    Raises
    ------
    ValueError
        Naming the argument: non-finite or negative or non-integer counts, trials
        below x, non-positive exposure, hazard outside (0, 1), non-positive prior,
        threshold outside [0, 1), bad ``max_run_length``/``window``, unknown model.

    Notes
    -----
    The run length :math:`r_t` is the number of observations before :math:`x_t`
    in the segment containing :math:`x_t`; :math:`r_1 = 0`.  With
    :math:`J_t(r) = P(r_t = r, x_{1:t})` and hazard :math:`H`,

    .. math::

        J_t(0) = H\,\Big(\sum_r J_{t-1}(r)\Big)\, p(x_t \mid \text{prior}), \qquad
        J_t(r+1) = (1 - H)\, J_{t-1}(r)\, p(x_t \mid x_{t-r-1:t-1}),

    and :math:`P(r_t = r \mid x_{1:t}) = J_t(r) / \sum_s J_t(s)`, all in logs.
    The predictive is the conjugate posterior predictive of the run's data:
    negative binomial for Gamma-Poisson with exposure :math:`e`,
    :math:`\log p(x) = \log\Gamma(a+x) - \log\Gamma(a) - \log x! + a\log\frac{b}{b+e}
    + x\log\frac{e}{b+e}` (update :math:`a \mathrel{+}= x, b \mathrel{+}= e`), and
    Beta-Binomial :math:`\log\binom{n}{k} + \log B(a+k, b+n-k) - \log B(a, b)`.

    **Which change probability.**  In Adams & MacKay's indexing the new run starts
    *after* :math:`x_t`, so :math:`P(r_t = 0 \mid x_{1:t}) = H` identically under
    a constant hazard and carries no information.  Here :math:`x_t` is scored
    under the prior predictive when :math:`r_t = 0`, so ``cp_prob`` =
    :math:`P(r_t = 0 \mid x_{1:t})` is the filtered probability that :math:`x_t`
    opened a new segment (equal to :math:`P(r_t < r_{t-1} + 1)`, since run
    lengths only grow by one or reset).  One sample rarely proves a change, so
    the quantity to threshold is ``recent_cp_prob`` =
    :math:`P(r_t < w \mid x_{1:t})`: a change among the last :math:`w` samples,
    which gathers the evidence of the samples after the change.

    **Pruning.**  Dropping a run length only removes non-negative terms of the
    recursion, so the retained joint is below the exact one term by term and
    ``log_evidence`` is a lower bound on :math:`\log p(x_{1:T})`; ``pruned_mass``
    is the sum over steps of the normalised posterior probability dropped.  A
    threshold does not shorten a long stable segment (every run length inside
    it keeps probability of order :math:`H`), so the cost per step is about the
    time since the last change; ``max_run_length`` caps it at a larger error.
    Run lengths below ``keep_recent`` are never pruned, so new segments survive
    until their evidence has accumulated.

    Examples
    --------
    >>> import numpy as np
    >>> from pt.kernels import bocpd
    >>> x = np.r_[np.full(30, 2), np.full(30, 20)]
    >>> res = bocpd(x, hazard=0.02)
    >>> int(res.map_run_length[-1]), bool(res.recent_cp_prob[32] > 0.99)
    (29, True)
    """
    det = BOCPD(model, hazard=hazard, prior=prior, prune_threshold=prune_threshold,
                max_run_length=max_run_length, window=window, keep_recent=keep_recent)
    return det.update_many(x, trials if model == "binomial" else exposure,
                           return_matrix=return_matrix)


# --------------------------------------------------------------------- Hawkes

def _hawkes_inputs(times, mu, alpha, beta, T):
    t = _series("times", times)
    T = _scalar("T", T, 0.0, low_open=False)
    if t.size:
        bad = _first_true(np.diff(t) < 0)
        if bad >= 0:
            raise ValueError(f"times must be sorted (non-decreasing), got times[{bad}] = {t[bad]!r} > "
                             f"times[{bad + 1}] = {t[bad + 1]!r}")
        if t[0] < 0 or t[-1] > T:
            raise ValueError(f"times must lie in [0, T] = [0, {T!r}], got [{t[0]!r}, {t[-1]!r}]")
    return (t, _scalar("mu", mu, 0.0), _scalar("alpha", alpha, 0.0, low_open=False),
            _scalar("beta", beta, 0.0), T)


def hawkes_loglik(times: ArrayLike, mu: float, alpha: float, beta: float, T: float) -> float:
    r"""Log-likelihood of a univariate Hawkes process with an exponential kernel.

    Parameters
    ----------
    times : array_like, shape (n,)
        Event times, sorted, in [0, T].
    mu : float
        Baseline intensity, > 0.
    alpha : float
        Branching ratio (mean number of events each event triggers), >= 0;
        the process is stationary for alpha < 1.
    beta : float
        Decay rate of the kernel, > 0.
    T : float
        End of the observation window [0, T], >= times[-1].

    Returns
    -------
    float
        :math:`\log L(\mu, \alpha, \beta)`.

    Raises
    ------
    ValueError
        Unsorted, non-finite or out-of-window times, or a parameter out of range.

    Notes
    -----
    :math:`\lambda(t) = \mu + \alpha\beta\sum_{t_i < t} e^{-\beta(t - t_i)}` and

    .. math::

        \log L = \sum_i \log\lambda(t_i) - \mu T
                 - \alpha\sum_i \big(1 - e^{-\beta(T - t_i)}\big).

    Ozaki's recursion :math:`A_1 = 0`,
    :math:`A_i = e^{-\beta(t_i - t_{i-1})}(1 + A_{i-1})` gives
    :math:`\lambda(t_i) = \mu + \alpha\beta A_i` and
    :math:`\sum_i e^{-\beta(T - t_i)} = e^{-\beta(T - t_n)}(1 + A_n)`: O(n),
    one ``exp`` and one ``log`` per event.  Simultaneous events are allowed
    (they excite each other with weight :math:`\alpha\beta`).

    Examples
    --------
    >>> from pt.kernels import hawkes_loglik
    >>> round(float(hawkes_loglik([], 2.0, 0.5, 1.0, 3.0)), 12)   # -mu T
    -6.0
    """
    t, mu, alpha, beta, T = _hawkes_inputs(times, mu, alpha, beta, T)
    return float(_hawkes.hawkes_loglik(t, mu, alpha, beta, T))


def hawkes_baseline_posterior(times: ArrayLike, mu: float, alpha: float, beta: float, T: float,
                              prior: tuple[float, float] = (1.0, 1.0)) -> tuple[float, float]:
    r"""Conjugate Gamma update of the Hawkes baseline :math:`\mu` (seed idea AA).

    Parameters
    ----------
    times, mu, alpha, beta, T
        As in :func:`hawkes_loglik`; ``mu`` is the current value used to split the
        events into immigrants and offspring.
    prior : (float, float)
        Gamma(shape a, rate b) prior on :math:`\mu`, both > 0.

    Returns
    -------
    (float, float)
        Posterior (shape, rate) = :math:`(a + \hat N_0,\ b + T)`.

    Notes
    -----
    In the branching (cluster) representation each event is an immigrant from
    the Poisson(:math:`\mu`) background or the offspring of an earlier event.
    Given which events are immigrants, :math:`N_0` of them on :math:`[0, T]`,
    the Gamma prior is conjugate: :math:`\mu \mid \cdot \sim \mathrm{Gamma}(a + N_0,
    b + T)`.  The immigrant labels are latent; event :math:`i` is an immigrant
    with probability :math:`\mu/\lambda(t_i)`, so :math:`\hat N_0 =
    \sum_i \mu/\lambda(t_i)` (the EM / mean-field update, computed with the same
    O(n) recursion).  With :math:`\alpha = 0` it is the exact Gamma-Poisson posterior.

    Examples
    --------
    >>> from pt.kernels import hawkes_baseline_posterior
    >>> hawkes_baseline_posterior([1.0, 2.0, 5.0], 1.0, 0.0, 1.0, 10.0, prior=(2.0, 1.0))
    (5.0, 11.0)
    """
    t, mu, alpha, beta, T = _hawkes_inputs(times, mu, alpha, beta, T)
    try:
        a, b = prior
    except (TypeError, ValueError):
        raise ValueError(f"prior must be a pair (a, b), got {prior!r}") from None
    a = _scalar("prior[0]", a, 0.0)
    b = _scalar("prior[1]", b, 0.0)
    n0, _ = _hawkes.hawkes_immigrants(t, mu, alpha, beta, T)
    return a + n0, b + T


# --------------------------------------------------------------------- Kalman

class KalmanResult(NamedTuple):
    """Means and variances of the local-linear-trend state, one entry per observation."""

    level: np.ndarray
    level_var: np.ndarray
    trend: np.ndarray
    trend_var: np.ndarray
    level_trend_cov: np.ndarray
    loglik: float            #: log p(y_observed), the prediction-error decomposition


def _kalman_args(y, obs_var, level_var, trend_var, init_mean, init_var):
    y = _as_array("y", y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    y = np.ascontiguousarray(y)
    bad = _first_true(np.isinf(y))
    if bad >= 0:
        _reject("y", y, bad, "be finite or NaN (missing)")
    r = _scalar("obs_var", obs_var, 0.0)
    ql = _scalar("level_var", level_var, 0.0, low_open=False)
    qb = _scalar("trend_var", trend_var, 0.0, low_open=False)
    if init_mean is None:
        observed = y[~np.isnan(y)]
        init_mean = (float(observed[0]) if observed.size else 0.0, 0.0)
    try:
        m0l, m0b = init_mean
        v0l, v0b = init_var
    except (TypeError, ValueError):
        raise ValueError(f"init_mean and init_var must be pairs, got {init_mean!r}, {init_var!r}") from None
    m0l = _scalar("init_mean[0]", m0l)
    m0b = _scalar("init_mean[1]", m0b)
    v0l = _scalar("init_var[0]", v0l, 0.0, low_open=False)
    v0b = _scalar("init_var[1]", v0b, 0.0, low_open=False)
    return y, r, ql, qb, m0l, m0b, v0l, 0.0, v0b


def _kalman_result(out, ll):
    return KalmanResult(out[:, 0].copy(), out[:, 2].copy(), out[:, 1].copy(), out[:, 4].copy(),
                        out[:, 3].copy(), float(ll))


def kalman_filter(y: ArrayLike, *, obs_var: float, level_var: float, trend_var: float,
                  init_mean: tuple[float, float] | None = None,
                  init_var: tuple[float, float] = (1.0, 1.0)) -> KalmanResult:
    r"""Kalman filter for the local-linear-trend model of a signal such as CPU share (idea AN).

    Parameters
    ----------
    y : array_like, shape (n,)
        Observations; NaN marks a missing sample (no update at that step).
    obs_var : float
        Observation noise variance :math:`r > 0`.
    level_var, trend_var : float
        Process noise variances :math:`q_\ell, q_b \ge 0` of level and trend.
    init_mean : (float, float), optional
        Prior mean of (level, trend) at the first sample; default
        (first observed y, 0).
    init_var : (float, float)
        Prior variances of (level, trend) at the first sample (independent), >= 0.

    Returns
    -------
    KalmanResult
        Filtered :math:`E[\ell_t \mid y_{1:t}]`, :math:`E[b_t \mid y_{1:t}]`, their
        variances and covariance, and the log-likelihood of the observed y.

    Raises
    ------
    ValueError
        If y is not 1-D or has an infinity, or a variance is out of range.

    Notes
    -----
    :math:`\ell_{t+1} = \ell_t + b_t + \eta_t`, :math:`b_{t+1} = b_t + \zeta_t`,
    :math:`y_t = \ell_t + \varepsilon_t` with :math:`\eta \sim N(0, q_\ell)`,
    :math:`\zeta \sim N(0, q_b)`, :math:`\varepsilon \sim N(0, r)`.  Update with
    :math:`S = P_{00} + r`, :math:`K = P_{\cdot 0}/S`: :math:`m \mathrel{+}= K(y - m_0)`,
    :math:`P \mathrel{-}= K K^\top S` (written as :math:`P_{00} = K_0 r`,
    :math:`P_{01} = K_1 r`, free of cancellation); predict with
    :math:`F = \begin{pmatrix}1&1\\0&1\end{pmatrix}`: :math:`m \leftarrow Fm`,
    :math:`P \leftarrow FPF^\top + \mathrm{diag}(q_\ell, q_b)`.
    :math:`\log L = -\tfrac12\sum_t [\log 2\pi S_t + v_t^2/S_t]` over observed
    :math:`t`.  A missing :math:`y_t` skips the update: the filtered state at
    :math:`t` is the prediction and the variance keeps growing.

    Examples
    --------
    >>> from pt.kernels import kalman_filter
    >>> res = kalman_filter([0.5, 0.5, 0.5], obs_var=0.01, level_var=0.0, trend_var=0.0)
    >>> round(float(res.level[-1]), 6)
    0.5
    """
    y, *args = _kalman_args(y, obs_var, level_var, trend_var, init_mean, init_var)
    filt, _, ll = _kalman.kalman_filter(y, *args)
    return _kalman_result(filt, ll)


def kalman_smoother(y: ArrayLike, *, obs_var: float, level_var: float, trend_var: float,
                    init_mean: tuple[float, float] | None = None,
                    init_var: tuple[float, float] = (1.0, 1.0)) -> KalmanResult:
    r"""Rauch-Tung-Striebel smoother for the model of :func:`kalman_filter`.

    Same parameters; returns :math:`E[\cdot \mid y_{1:n}]` and variances given all
    observations (the last entry equals the filter's), and the same log-likelihood.

    Notes
    -----
    :math:`G_t = P_{t|t}F^\top P_{t+1|t}^{-1}`,
    :math:`m_{t|n} = m_{t|t} + G_t(m_{t+1|n} - m_{t+1|t})`,
    :math:`P_{t|n} = P_{t|t} + G_t(P_{t+1|n} - P_{t+1|t})G_t^\top`.  Needs
    :math:`P_{t+1|t}` invertible: with ``trend_var = 0`` and ``init_var[1] = 0``
    it is singular, so give one of them a positive value.
    """
    y, *args = _kalman_args(y, obs_var, level_var, trend_var, init_mean, init_var)
    smooth, ll = _kalman.kalman_smoother(y, *args)
    return _kalman_result(smooth, ll)


# --------------------------------------------------------------------- change point, CPU

class BetaChangepoint(NamedTuple):
    """Posterior of the two-regime change point of :func:`beta_changepoint`."""

    tau_posterior: np.ndarray   #: (T + 1,): [j] = P(tau = j + 1 | x); last entry: no change
    log_marginal: float         #: log p(x), summed over tau
    p_change: float             #: P(tau <= T | x), a change within the series
    tau_map: int                #: most probable tau (1-based; T + 1 means no change)


def beta_changepoint(k: ArrayLike, n: ArrayLike, *, prior_before: tuple[float, float] = (1.0, 1.0),
                     prior_after: tuple[float, float] = (1.0, 1.0), rho: float = 0.01) -> BetaChangepoint:
    r"""Exact posterior of one change point in a Beta-Binomial series (seed idea D, 4.7).

    Parameters
    ----------
    k, n : array_like, shape (T,)
        Successes and trials per sample (busy ticks of elapsed ticks), integers,
        0 <= k <= n.  ``n`` may be a scalar.
    prior_before, prior_after : (float, float)
        Beta(a, b) priors of the success probability before and after the change.
    rho : float
        Geometric prior on the change time: :math:`P(\tau = j) = \rho(1-\rho)^{j-1}`,
        :math:`j = 1..T`, and :math:`P(\text{no change}) = (1 - \rho)^T`; in (0, 1).

    Returns
    -------
    BetaChangepoint

    Notes
    -----
    :math:`\tau` is the first sample of the second regime.  Integrating the
    success probability out of each segment (Beta-Binomial),

    .. math::

        p(x \mid \tau) = \prod_t \binom{n_t}{k_t}
        \frac{B(a_1 + K_{<\tau}, b_1 + N_{<\tau} - K_{<\tau})}{B(a_1, b_1)}
        \frac{B(a_2 + K_{\ge\tau}, b_2 + N_{\ge\tau} - K_{\ge\tau})}{B(a_2, b_2)},

    with :math:`K, N` the segment sums, so every :math:`\tau` costs O(1) after
    prefix sums; :math:`p(x) = \sum_\tau p(\tau) p(x \mid \tau)` by log-sum-exp.
    """
    k = _series("k", k, rule="count")
    nn = _series("n", n, k.shape[0], rule="count")
    bad = _first_true(k > nn)
    if bad >= 0:
        raise ValueError(f"k must be <= n, got k[{bad}] = {k[bad]!r} > n[{bad}] = {nn[bad]!r}")
    (a1, b1), (a2, b2) = (_pair(f"prior_{w}", p) for w, p in
                          (("before", prior_before), ("after", prior_after)))
    rho = _scalar("rho", rho, 0.0, 1.0)
    T = k.shape[0]
    ll = _changepoint.beta_changepoint_loglik(k, nn, a1, b1, a2, b2)
    j = np.arange(T + 1, dtype=np.float64)
    log_prior = np.where(j < T, math.log(rho) + j * math.log1p(-rho), T * math.log1p(-rho))
    joint = ll + log_prior
    lm = float(logsumexp(joint))
    post = np.exp(joint - lm)
    return BetaChangepoint(post, lm, float(post[:T].sum()), int(np.argmax(post)) + 1)


def _pair(name, value):
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (a, b), got {value!r}") from None
    return _scalar(f"{name}[0]", a, 0.0), _scalar(f"{name}[1]", b, 0.0)


def cpu_increment_logpdf(c: ArrayLike, dt: ArrayLike, *, kappa: float, beta: float) -> np.ndarray:
    r"""Log-likelihood of CPU-time increments under the compound-Poisson burst model (idea G, 4.6).

    Parameters
    ----------
    c : array_like, shape (m,)
        CPU time consumed in each interval (>= 0, any unit; 0 for an idle interval).
    dt : array_like or float, shape (m,)
        Interval lengths, > 0.
    kappa : float
        Burst rate per unit time, > 0.
    beta : float
        Rate of the exponential burst size (mean burst 1/beta), > 0.

    Returns
    -------
    ndarray, shape (m,)
        :math:`\log P(c = 0)` for idle intervals, :math:`\log f(c)` (density) otherwise.

    Notes
    -----
    :math:`C(t) = \sum_{i \le N(t)} X_i`, :math:`N \sim \mathrm{Poisson}(\kappa t)`,
    :math:`X_i \sim \mathrm{Exp}(\beta)`: a Lévy subordinator with independent
    increments.  Over an interval of length :math:`d`, with :math:`m = \kappa d`,
    :math:`P(c = 0) = e^{-m}` and for :math:`c > 0`
    :math:`f(c) = \sum_{j\ge1} \mathrm{Pois}(j; m)\,\mathrm{Gamma}(c; j, \beta)
    = e^{-m - \beta c}\sqrt{m\beta/c}\;I_1(2\sqrt{m\beta c})`, evaluated in logs
    (:math:`\log I_1` by its power series up to 30 and Hankel's expansion above).
    Large :math:`m` approaches the Gamma process (:math:`c \approx
    \mathrm{Gamma}(m, \beta)` in mean and variance).
    """
    c = _series("c", c)
    bad = _first_true(c < 0)
    if bad >= 0:
        _reject("c", c, bad, "be >= 0")
    d = _series("dt", dt, c.shape[0], rule="positive")
    kappa = _scalar("kappa", kappa, 0.0)
    beta = _scalar("beta", beta, 0.0)
    return _changepoint.compound_poisson_exp_logpdf(c, d, kappa, beta)


# --------------------------------------------------------------------- forest

def _log_table(name, value, shape):
    """``value`` as a contiguous float64 array of ``shape``: no NaN, no +inf (-inf allowed)."""
    arr = _as_array(name, value)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    arr = np.ascontiguousarray(arr)
    bad = _first_true(~(arr < np.inf))                    # NaN or +inf
    if bad >= 0:
        _reject(name, arr, bad, "be a log probability (finite or -inf)")
    return arr


def tree_marginals(parent: ArrayLike, log_lik: ArrayLike, log_coupling: ArrayLike,
                   log_prior: ArrayLike) -> np.ndarray:
    r"""Exact class marginals of every node of a forest with pairwise parent-child coupling.

    Parameters
    ----------
    parent : array_like of int, shape (n,)
        Index of each node's parent; -1 (or any index outside [0, n), or the
        node itself) for a root. Nodes may come in any order.
    log_lik : array_like, shape (n, K)
        Each node's own evidence, :math:`\log p(x_i \mid c_i)`.
    log_coupling : array_like, shape (K, K)
        :math:`\log \psi(c_\text{parent}, c_\text{child})`, parent class by row.
    log_prior : array_like, shape (K,)
        Log prior of a root's class.

    Returns
    -------
    ndarray, shape (n, K)
        :math:`\log P(c_i \mid x)`, each row normalised (log-sum-exp 0).

    Raises
    ------
    ValueError
        If a shape does not match, an entry is NaN or +inf, or the evidence
        leaves some tree no possible labelling (probability zero).

    Notes
    -----
    The joint is :math:`\prod_\text{roots} \pi(c_r) \prod_i p(x_i \mid c_i)
    \prod_{i \ne r} \psi(c_{p(i)}, c_i)`. Leaves up: :math:`\mu_{i\to p}(a)
    = \log\sum_b \psi(a, b)\, e^{u_i(b)}` with :math:`u_i` = own evidence plus
    every child's message; roots down: :math:`\pi_c(b) = \log\sum_a \psi(a, b)
    \, e^{\pi_i(a) + \log p(x_i|a) + \sum_{c' \ne c} \mu_{c'\to i}(a)}`, the
    exclusion from prefix and suffix sums (never a subtraction of -inf). The
    marginal is :math:`u_i + \pi_i`, normalised. When the coupling has no
    zero, the passes run in linear scale (exact power-of-two rescaling) and a
    child's exclusion is its parent's marginal divided by its own message,
    never zero there; a zero in the coupling, or a range beyond 1e-150 of a
    row's largest value, sends the forest to the log domain above, exact for
    any range. Pearl (1988) ch. 4; Koller and Friedman (2009) §10.2. A parent
    pointer cycle (pid reuse in a corrupted snapshot) is cut at one edge: the
    node where a walk up from the cycle's lowest-index unreached node first
    repeats becomes a root.

    Examples
    --------
    >>> import numpy as np
    >>> from pt.kernels import tree_marginals
    >>> flat = np.log(np.full((2, 2), 0.5))
    >>> out = tree_marginals([-1, 0], np.log([[0.9, 0.1], [0.5, 0.5]]), np.log([[0.9, 0.1], [0.1, 0.9]]), flat[0])
    >>> np.round(np.exp(out[1]), 2).tolist()
    [0.82, 0.18]
    """
    lik = _as_array("log_lik", log_lik)
    if lik.ndim != 2:
        raise ValueError(f"log_lik must be 2-D (n, K), got shape {lik.shape}")
    n, k = lik.shape
    par = _as_array("parent", parent, integer=True)
    if par.shape != (n,):
        raise ValueError(f"parent must have shape ({n},) (one per row of log_lik), got {par.shape}")
    lik = _log_table("log_lik", lik, (n, k))
    coupling = _log_table("log_coupling", log_coupling, (k, k))
    prior = _log_table("log_prior", log_prior, (k,))
    out, bad, _ = _forest.tree_marginals(np.ascontiguousarray(par), lik, coupling, prior)
    if bad >= 0:
        raise ValueError(f"log_lik, log_coupling and log_prior leave node {bad}'s tree no possible "
                         f"labelling (probability zero)")
    return out


def subtree_sums(parent: ArrayLike, values: ArrayLike) -> np.ndarray:
    """Each node's values summed with those of all its descendants.

    Parameters
    ----------
    parent : array_like of int, shape (n,)
        Parent index of each node, as for :func:`tree_marginals` (-1, out of
        range or itself: a root; a cycle is cut at one edge).
    values : array_like, shape (n,) or (n, m)
        Finite values per node.

    Returns
    -------
    ndarray, same shape as ``values``
        ``values[i]`` plus ``values[j]`` for every descendant j of i.

    Examples
    --------
    >>> from pt.kernels import subtree_sums
    >>> subtree_sums([-1, 0, 0, 1], [1.0, 1.0, 1.0, 1.0]).tolist()
    [4.0, 2.0, 1.0, 1.0]
    """
    vals = _as_array("values", values)
    if vals.ndim not in (1, 2):
        raise ValueError(f"values must be 1-D or 2-D, got shape {vals.shape}")
    n = vals.shape[0]
    par = _as_array("parent", parent, integer=True)
    if par.shape != (n,):
        raise ValueError(f"parent must have shape ({n},) (one per row of values), got {par.shape}")
    flat = np.ascontiguousarray(vals.reshape(n, -1))
    bad = _first_true(~np.isfinite(flat))
    if bad >= 0:
        _reject("values", vals, bad, "be finite")
    return _forest.subtree_sums(np.ascontiguousarray(par), flat).reshape(vals.shape)


def breadth_first(parent: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """A parents-first order of a forest, and its parent array made sane.

    Parameters
    ----------
    parent : array_like of int, shape (n,)
        Parent index of each node (-1, out of range or itself: a root).

    Returns
    -------
    order : ndarray of intp, shape (n,)
        Every node once, each after its parent (breadth-first from the roots).
    parent : ndarray of int64, shape (n,)
        The input with invalid parents and one edge of each cycle set to -1,
        as :func:`tree_marginals` cuts them.
    """
    par = _as_array("parent", parent, integer=True)
    if par.ndim != 1:
        raise ValueError(f"parent must be 1-D, got shape {par.shape}")
    order, up, _, _, _ = _forest.forest_order(np.ascontiguousarray(par))
    sane = np.full(len(par), -1, dtype=np.int64)
    linked = up >= 0
    sane[order[linked]] = order[up[linked]]
    return order, sane
