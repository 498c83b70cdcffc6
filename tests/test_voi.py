"""Value of information against brute-force enumeration and simulation."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pt.decide.voi import effective_loss, value_of_information

L = np.array([[0.0, 10, 30, 40], [12, 9, 8, 40], [100, 20, 1, 1]])     # keep, pause, kill × 4 classes
A = np.array([[2.0, 8.0, 0.5, 0.5]])
B = np.array([[8.0, 2.0, 20.0, 50.0]])


def brute_force(post, k, n, a, b, loss, m):
    now = (loss @ post).min()
    total = 0.0
    for y in range(m + 1):
        pred = stats.betabinom.pmf(y, m, a + k, b + n - k)
        py = float(post @ pred)
        post_y = post * pred / py
        total += py * (loss @ post_y).min()
    return now - total


@pytest.mark.parametrize("post, k, n, m", [
    ([0.5, 0.05, 0.44, 0.01], 0, 30, 10),
    ([0.3, 0.3, 0.3, 0.1], 12, 30, 25),
    ([0.9, 0.02, 0.07, 0.01], 3, 100, 60),
    ([0.05, 0.0, 0.95, 0.0], 0, 300, 5),
])
def test_matches_enumeration(post, k, n, m):
    post = np.array(post) / np.sum(post)
    with np.errstate(divide="ignore"):
        got = value_of_information(np.log(post)[None], [k], [n], A, B, L, m)[0]
    want = brute_force(post, k, n, A[0], B[0], L, m)
    assert got == pytest.approx(max(want, 0.0), abs=1e-10)


def test_matches_simulation():
    """Draw class, CPU share and y from the model; decide after seeing y; the
    mean realised saving over deciding now is the VOI."""
    rng = np.random.default_rng(7)
    post = np.array([0.45, 0.1, 0.4, 0.05])
    k, n, m = 2, 40, 30
    draws = 200_000
    c = rng.choice(4, size=draws, p=post)
    theta = rng.beta(A[0, c] + k, B[0, c] + n - k)
    y = rng.binomial(m, theta)
    pred = stats.betabinom.pmf(np.arange(m + 1)[:, None], m, A[0] + k, B[0] + n - k)   # (Y, C)
    post_y = post * pred / (pred @ post)[:, None]
    act_after = (post_y @ L.T).argmin(axis=1)                                          # best action per y
    act_now = (L @ post).argmin()
    saving = L[act_now, c] - L[act_after[y], c]
    se = saving.std() / np.sqrt(draws)
    got = value_of_information(np.log(post)[None], [k], [n], A, B, L, m)[0]
    assert abs(saving.mean() - got) < 4 * se


def test_properties():
    post = np.log(np.array([[0.5, 0.05, 0.44, 0.01]]))
    vois = [value_of_information(post, [0], [30], A, B, L, m)[0] for m in (0, 1, 5, 20, 100, 1000)]
    assert vois[0] == 0.0
    assert all(later >= earlier - 1e-12 for earlier, later in zip(vois, vois[1:]))   # more data never hurts
    flat = np.ones_like(L) * 5.0
    assert value_of_information(post, [0], [30], A, B, flat, 50)[0] == pytest.approx(0.0, abs=1e-12)
    certain = np.log(np.array([[1 - 3e-12, 1e-12, 1e-12, 1e-12]]))
    assert value_of_information(certain, [0], [30], A, B, L, 50)[0] < 1e-9


def test_long_horizon_with_concentrated_predictives():
    """1,000 ticks, with classes whose predictive piles up at y = 0."""
    post = np.array([0.5, 0.05, 0.44, 0.01])
    exact = brute_force(post, 0, 30, A[0], B[0], L, 1000)
    got = value_of_information(np.log(post)[None], [0], [30], A, B, L, 1000)[0]
    assert got == pytest.approx(exact, rel=1e-9)


def test_unavailable_actions_are_never_chosen():
    post = np.log(np.array([[0.05, 1e-9, 0.9, 0.05]]) / (1.0 + 1e-9))
    available = np.array([[True, True, False]])
    loss = effective_loss(L, np.array([0.0]), available, kill=2, restart=2)
    got = value_of_information(post, [0], [30], A, B, loss, 20)[0]
    want = brute_force(np.exp(post[0]), 0, 30, A[0], B[0], L[:2], 20)
    assert got == pytest.approx(max(want, 0), abs=1e-10)


def test_bad_input_is_named():
    post = np.log(np.full((1, 4), 0.25))
    with pytest.raises(ValueError, match="k must satisfy"):
        value_of_information(post, [5], [3], A, B, L, 10)
    with pytest.raises(ValueError, match="horizon_ticks"):
        value_of_information(post, [0], [3], A, B, L, -1)
    with pytest.raises(ValueError, match="log_post"):
        value_of_information(post[0], [0], [3], A, B, L, 1)


def brute_force_binned(post, k, n, a, b, loss, m, resolution):
    """VOI of observing only which bin of consecutive y values occurs (a bin
    starting at y spans 1 + y // resolution values)."""
    now = (loss @ post).min()
    total = 0.0
    start = 0
    while start <= m:
        ys = np.arange(start, min(start + 1 + start // resolution, m + 1))
        start = ys[-1] + 1
        joint = post * stats.betabinom.pmf(ys[:, None], m, a + k, b + n - k).sum(axis=0)   # P(c, bin)
        total += (loss @ joint).min()
    return now - total


@pytest.mark.parametrize("m, bins", [(1000, 32), (300, 3), (50, 1), (20, 64)])
def test_binned_voi_is_the_coarser_experiment_and_a_lower_bound(m, bins):
    post = np.array([0.5, 0.05, 0.44, 0.01])
    got = value_of_information(np.log(post)[None], [0], [30], A, B, L, m, resolution=bins)[0]
    assert got == pytest.approx(max(brute_force_binned(post, 0, 30, A[0], B[0], L, m, bins), 0), abs=1e-9)
    exact = value_of_information(np.log(post)[None], [0], [30], A, B, L, m)[0]
    assert got <= exact + 1e-12
    if m == 1000:
        assert got >= 0.95 * exact                # 128 bins lose little here


def test_wakeup_voi_matches_a_direct_sum_and_its_garbling_is_a_lower_bound():
    from scipy import stats

    from pt.decide.voi import wakeup_voi
    rng = np.random.default_rng(7)
    n = 6
    post = rng.dirichlet(np.ones(4), size=n)
    loss = rng.uniform(0, 30, size=(n, 7, 4))
    loss[0, 5] = np.inf                                      # an unavailable action is never chosen
    a, b = np.array([0.3, 0.3, 0.1, 0.01]), np.array([3.0, 3.0, 30.0, 1e4])
    onsets, idle = rng.integers(0, 5, n), rng.uniform(0, 20, n)
    for h in (0.5, 5.0, 30.0):
        want = np.empty(n)
        for i in range(n):
            def least(w):
                return min(sum(w[c] * loss[i, k, c] for c in range(4) if w[c] > 0) for k in range(7))
            r, q = a + onsets[i], (b + idle[i]) / (b + idle[i] + h)
            after = sum(least(post[i] * stats.nbinom.pmf(j, r, q)) for j in range(400))
            want[i] = max(least(post[i]) - after, 0.0)
        exact = wakeup_voi(np.log(post), onsets, idle, a, b, loss, h, max_count=400)
        np.testing.assert_allclose(exact, want, rtol=1e-9, atol=1e-12)
        binned = wakeup_voi(np.log(post), onsets, idle, a, b, loss, h)
        assert np.all(binned <= exact + 1e-12) and np.all(binned >= 0)
    with pytest.raises(ValueError, match="horizon_s"):
        wakeup_voi(np.log(post), onsets, idle, a, b, loss, -1.0)
