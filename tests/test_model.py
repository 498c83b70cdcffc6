"""The model's math against independent references, and the decision rules."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special, stats

from pt.config import ACTIONS, CATEGORICAL_LEVELS, CLASSES, load_policy, load_priors
from pt.decide.loss import DEMOTED_FDR, DEMOTED_ROBUST, KILL, credal_vertices, decide, loss_matrix
from pt.infer.posterior import FEATURES, Evidence, Inference, ModelTables, evidence_terms, infer

PRIORS, POLICY = load_priors(), load_policy()
TABLES = ModelTables(PRIORS)
LEVEL = {f: {name: i for i, name in enumerate(levels)} for f, levels in CATEGORICAL_LEVELS.items()}


def evidence(n=1, **overrides) -> Evidence:
    """A neutral, ordinary process (idle, sleeping, own parent, no tty), overridable."""
    base = dict(cpu_ticks=0, window_ticks=30, age_s=600.0, orphaned=0, io_active=0,
                cpu_lifetime=LEVEL["cpu_lifetime"]["idle"], tty=LEVEL["tty"]["none"],
                state=LEVEL["state"]["S"], command=LEVEL["command"]["unknown"],
                cwd=LEVEL["cwd"]["unknown"], children=LEVEL["children"]["none"],
                network=LEVEL["network"]["none"])
    for key, value in overrides.items():
        if isinstance(value, str):
            value = LEVEL[key][value]
        base[key] = value
    return Evidence(**{k: np.full(n, v, dtype=np.float64 if k == "age_s" else np.int64)
                       for k, v in base.items()})


def column(feature):
    return FEATURES.index(feature)


def test_cpu_window_term_is_the_beta_binomial_marginal():
    for k in (0, 1, 7, 30, 45):   # 45 > 30: a multi-threaded process is capped at fully busy
        terms, observed = evidence_terms(evidence(cpu_ticks=k, command="test_runner"), TABLES)
        cat = LEVEL["command"]["test_runner"]
        expected = stats.betabinom.logpmf(min(k, 30), 30, TABLES.cpu_alpha[cat], TABLES.cpu_beta[cat])
        np.testing.assert_allclose(terms[0, column("cpu_window")], expected, rtol=1e-10)
        assert observed[0, column("cpu_window")]


def test_survival_term_is_the_gamma_mixed_exponential_survival():
    t = 5400.0
    terms, _ = evidence_terms(evidence(age_s=t, command="test_runner"), TABLES)
    cat = LEVEL["command"]["test_runner"]
    for c in range(4):
        a, b = TABLES.surv_a[cat, c], TABLES.surv_b[cat, c]
        # P(alive at t) = integral of exp(-lam t) Gamma(lam; a, rate b) d lam, with
        # lam = u / b so the integrand lives on the unit scale whatever b is.
        with np.errstate(divide="ignore"):   # scipy takes log(0) at u = 0
            value, _ = integrate.quad(lambda u: np.exp(-u * t / b) * stats.gamma.pdf(u, a),
                                      0, np.inf, limit=200)
        np.testing.assert_allclose(terms[0, column("survival"), c], np.log(value), rtol=1e-7)


def test_runtime_term_is_the_gamma_density():
    terms, _ = evidence_terms(evidence(age_s=7200.0), TABLES)
    expected = stats.gamma.logpdf(7200.0, TABLES.runtime_shape, scale=TABLES.runtime_scale)
    np.testing.assert_allclose(terms[0, column("runtime")], expected, rtol=1e-12)


def test_bernoulli_and_categorical_terms():
    terms, _ = evidence_terms(evidence(orphaned=1, tty="dead", command="dev_server"), TABLES)
    a, b = (np.array(v) for v in zip(*(PRIORS.pairs["orphan"][c] for c in CLASSES)))
    np.testing.assert_allclose(terms[0, column("orphan")], stats.betabinom.logpmf(1, 1, a, b), rtol=1e-12)
    for feature, level in (("tty", "dead"), ("command", "dev_server")):
        alphas = np.array([PRIORS.categorical[feature][c] for c in CLASSES])
        onehot = np.zeros(alphas.shape[1])
        onehot[LEVEL[feature][level]] = 1
        expected = [stats.dirichlet_multinomial.logpmf(onehot, alpha, 1) for alpha in alphas]
        np.testing.assert_allclose(terms[0, column(feature)], expected, rtol=1e-12)


def test_missing_evidence_contributes_nothing():
    full = infer(evidence(), TABLES)
    gone = infer(evidence(io_active=-1, network=-1, window_ticks=0), TABLES)
    for feature in ("io_window", "network", "cpu_window"):
        assert not gone.observed[0, column(feature)]
        assert (gone.terms[0, column(feature)] == 0).all()
    expected_joint = full.log_prior + full.terms.sum(axis=1) - full.terms[:, [column("io_window"),
                                                                               column("network"),
                                                                               column("cpu_window")]].sum(axis=1)
    expected = expected_joint - special.logsumexp(expected_joint, axis=1, keepdims=True)
    np.testing.assert_allclose(gone.log_posterior, expected, rtol=1e-12)


def test_posterior_is_bayes_rule_by_brute_force():
    ev = evidence(3, orphaned=1, tty="dead", cpu_ticks=0)
    inf = infer(ev, TABLES)
    unnormalised = np.exp(np.log(PRIORS.class_prior) + inf.terms.sum(axis=1))
    np.testing.assert_allclose(inf.posterior, unnormalised / unnormalised.sum(axis=1, keepdims=True),
                               rtol=1e-12)


def test_an_idle_ordinary_process_is_not_called_abandoned():
    """The trap of the reference implementation: idleness alone is weak evidence."""
    post = infer(evidence(age_s=3 * 86400.0), TABLES).posterior[0]
    assert post[CLASSES.index("useful")] > 0.5
    assert post[CLASSES.index("abandoned")] < 0.5


def test_abandonment_evidence_accumulates():
    weak = infer(evidence(age_s=6 * 3600.0), TABLES).posterior[0, 2]
    strong = infer(evidence(age_s=6 * 3600.0, orphaned=1, tty="dead", cwd="deleted",
                            command="dev_server"), TABLES).posterior[0, 2]
    assert strong > 0.95 > weak


def test_later_only_ages_the_evidence():
    ev = evidence(2, cpu_ticks=3)
    later = ev.later(3600.0)
    np.testing.assert_array_equal(later.age_s, ev.age_s + 3600.0)
    np.testing.assert_array_equal(later.cpu_ticks, ev.cpu_ticks)


# --- decision -------------------------------------------------------------------------

def _inference_from_posterior(post: np.ndarray) -> Inference:
    """An Inference whose likelihood reproduces ``post`` under the point prior."""
    log_post = np.log(np.maximum(post, 1e-300))
    terms = np.zeros((len(post), len(FEATURES), 4))
    terms[:, 0] = log_post - np.log(PRIORS.class_prior)
    return Inference.from_terms(terms, np.ones(terms.shape[:2], bool), np.log(PRIORS.class_prior))


def _decide(post, *, restart=False, protected=None, impact=None):
    post = np.atleast_2d(np.asarray(post, dtype=float))
    n = len(post)
    available = np.ones((n, len(ACTIONS)), bool)
    available[:, ACTIONS.index("restart")] = restart
    return decide(_inference_from_posterior(post), POLICY,
                  impact=np.zeros(n) if impact is None else impact, available=available,
                  protected=np.zeros(n, bool) if protected is None else protected)


def test_every_action_is_optimal_for_a_realistic_posterior():
    realistic = {
        "keep": [0.97, 0.01, 0.015, 0.005],          # an ordinary useful process
        "renice": [0.6, 0.39, 0.005, 0.005],         # probably fine, a bit too busy
        "throttle": [0.3, 0.69, 0.005, 0.005],       # a runaway build that still matters
        "quarantine": [0.08, 0.9, 0.015, 0.005],     # clearly runaway, multi-core hog
        "pause": [0.45, 0.01, 0.535, 0.005],         # torn between useful and abandoned
        "kill": [0.004, 0.001, 0.99, 0.005],         # a leftover test runner, orphaned
    }
    for action, post in realistic.items():
        assert ACTIONS[_decide(post).action[0]] == action, action
    assert ACTIONS[_decide([0.05, 0.9, 0.045, 0.005], restart=True).action[0]] == "restart"
    assert ACTIONS[_decide([0.001, 0.001, 0.001, 0.997]).action[0]] == "kill"   # a zombie, reaped


def test_expected_loss_matches_the_matrix_product():
    post = np.array([[0.2, 0.1, 0.6, 0.1]])
    d = _decide(post, restart=True)
    np.testing.assert_allclose(d.expected_loss[0], loss_matrix(POLICY) @ post[0], rtol=1e-12)


def test_dependency_impact_scales_kill_cost():
    post = [0.005, 0.0, 0.995, 0.0]
    assert ACTIONS[_decide(post).action[0]] == "kill"
    assert ACTIONS[_decide(post, impact=np.array([5.0])).action[0]] != "kill"


def test_credal_vertices_bound_every_prior_in_the_box():
    vertices = credal_vertices(POLICY)
    lo = np.array([POLICY.robust_prior[c][0] for c in CLASSES])
    hi = np.array([POLICY.robust_prior[c][1] for c in CLASSES])
    assert np.allclose(vertices.sum(axis=1), 1) and (vertices >= lo - 1e-12).all() and (vertices <= hi + 1e-12).all()
    # Brute force: random feasible priors never give a posterior outside the vertex range.
    rng = np.random.default_rng(7)
    priors = rng.uniform(lo, hi, size=(200_000, 4))
    priors = priors[np.abs(priors.sum(axis=1) - 1) < 0.02]
    priors /= priors.sum(axis=1, keepdims=True)
    priors = priors[((priors >= lo) & (priors <= hi)).all(axis=1)]
    likelihood = np.array([0.2, 0.05, 0.9, 0.01])
    post = priors * likelihood
    post /= post.sum(axis=1, keepdims=True)
    vpost = vertices * likelihood
    vpost /= vpost.sum(axis=1, keepdims=True)
    assert (post.min(axis=0) >= vpost.min(axis=0) - 1e-12).all()
    assert (post.max(axis=0) <= vpost.max(axis=0) + 1e-12).all()


def test_kill_must_be_robust_to_the_prior():
    # Kill-optimal under the point prior but not at the useful-heavy vertex.
    post = np.array([0.055, 0.0, 0.945, 0.0])
    d = _decide(post)
    point_best = int(np.argmin(d.expected_loss[0]))
    assert ACTIONS[point_best] == "kill"
    assert ACTIONS[d.action[0]] != "kill" and d.demoted[0] == DEMOTED_ROBUST


def test_fdr_gate_keeps_the_mean_lfdr_of_the_kill_set_below_alpha():
    rng = np.random.default_rng(3)
    useful = rng.uniform(0.0, 0.06, size=400)          # all individually kill-worthy
    post = np.stack([useful, np.zeros_like(useful), 1 - useful, np.zeros_like(useful)], axis=1)
    d = _decide(post)
    killed = d.action == KILL
    assert killed.any()
    assert useful[killed].mean() <= POLICY.fdr_alpha + 1e-12
    assert d.fdr_kill_set_size == killed.sum()
    # Largest such set: adding the next-safest demoted process would break the bound.
    demoted = d.demoted == DEMOTED_FDR
    if demoted.any():
        nxt = useful[demoted].min()
        assert (useful[killed].sum() + nxt) / (killed.sum() + 1) > POLICY.fdr_alpha


def test_protected_processes_are_only_kept():
    d = _decide([[0.001, 0.0, 0.999, 0.0]], protected=np.array([True]))
    assert ACTIONS[d.action[0]] == "keep" and d.demoted[0] == "veto"


def test_sprt_boundary_is_the_loss_ratio():
    d = _decide([0.5, 0.0, 0.5, 0.0])
    L = loss_matrix(POLICY)
    u, a = CLASSES.index("useful"), CLASSES.index("abandoned")
    k, keep = ACTIONS.index("kill"), ACTIONS.index("keep")
    expected = np.log((L[k, u] - L[keep, u]) / (L[keep, a] - L[k, a]))
    assert d.sprt_boundary[0] == pytest.approx(expected)
    assert d.log_odds[0] == pytest.approx(0.0)


def test_cpu_term_for_windows_of_different_lengths():
    """The tabulated common window and the per-row path agree with scipy."""
    ev = evidence(3, cpu_ticks=7, command="agent")
    ev = Evidence(**{**ev.__dict__, "window_ticks": np.array([30, 50, 0]), "cpu_ticks": np.array([7, 45, 3])})
    terms, observed = evidence_terms(ev, TABLES)
    cat = LEVEL["command"]["agent"]
    a, b = TABLES.cpu_alpha[cat], TABLES.cpu_beta[cat]
    np.testing.assert_allclose(terms[0, column("cpu_window")], stats.betabinom.logpmf(7, 30, a, b), rtol=1e-10)
    np.testing.assert_allclose(terms[1, column("cpu_window")], stats.betabinom.logpmf(45, 50, a, b), rtol=1e-10)
    assert observed[:, column("cpu_window")].tolist() == [True, True, False]
    assert (terms[2, column("cpu_window")] == 0).all()


def test_posterior_bounds_are_the_extremes_over_the_vertices():
    rng = np.random.default_rng(5)
    post = rng.dirichlet([0.5] * 4, size=50)
    d = _decide(post)
    lik = post / np.asarray(PRIORS.class_prior)          # likelihood up to a row constant
    vertices = credal_vertices(POLICY)
    vpost = vertices[:, None, :] * lik[None]
    vpost /= vpost.sum(axis=2, keepdims=True)
    np.testing.assert_allclose(d.posterior_lower, vpost.min(axis=0), rtol=1e-9)
    np.testing.assert_allclose(d.posterior_upper, vpost.max(axis=0), rtol=1e-9)


def test_evidence_rejects_values_the_kernel_would_misread():
    import dataclasses
    base = evidence(2)
    for field, value, message in (("command", 13, "command must be a code in -1..12"),
                                  ("tty", -2, "tty must be a code in -1..3"),
                                  ("orphaned", 2, "orphaned must be a code in -1..1"),
                                  ("cpu_ticks", -1, "cpu_ticks must be >= 0"),
                                  ("age_s", np.nan, "age_s must be finite")):
        values = getattr(base, field).copy()
        values[1] = value
        with pytest.raises(ValueError, match=message):
            dataclasses.replace(base, **{field: values})
    with pytest.raises(ValueError, match="has 1 rows"):
        dataclasses.replace(base, cpu_ticks=np.zeros(1, np.int64))


def test_decide_treats_integer_masks_as_booleans():
    post = np.array([[0.001, 0, 0.999, 0]] * 3)
    available = np.ones((3, len(ACTIONS)), dtype=np.int64)
    available[:, ACTIONS.index("restart")] = 0
    d = decide(_inference_from_posterior(post), POLICY, impact=np.zeros(3), available=available,
               protected=np.array([0, 0, 1]))
    assert [ACTIONS[a] for a in d.action] == ["kill", "kill", "keep"]
    assert d.demoted.tolist() == [None, None, "veto"]


def test_sprt_boundary_is_infinite_when_kill_cannot_win():
    d = _decide([0.5, 0.0, 0.5, 0.0], impact=np.array([100.0]))
    assert d.sprt_boundary[0] == np.inf


SPINNING = dict(cpu_ticks=30, state="R", cpu_lifetime="high", tty="foreground", parent="live",
                progress="sustained")   # busy with no read/write syscalls and no busy child, and all its life
REALISTIC = {   # evidence a developer machine really shows -> the action pt should take
    "keep": dict(command="shell", age_s=86400.0, tty="foreground"),                 # your shell
    "renice": dict(SPINNING, age_s=120.0),              # spinning all its two minutes, nothing to show
    "throttle": dict(SPINNING, age_s=3600.0),           # ... for an hour
    "quarantine": dict(SPINNING, age_s=6 * 3600.0, tty="none", parent=-1),   # a detached spinner, hours on
    "pause": dict(command="dev_server", age_s=86400.0, network="listening"),       # idle dev server, no clients
    "kill": dict(command="dev_server", age_s=86400.0, network="listening",
                 orphaned=1),                                                      # ... whose terminal is gone
}
BUSY_WITH_PROGRESS = dict(cpu_ticks=30, state="R", cpu_lifetime="high", tty="foreground", parent="live",
                          io_active=1, progress="progress")


def test_every_action_is_optimal_for_a_realistic_process():
    for action, observed in REALISTIC.items():
        d = _decide_evidence(evidence(**observed))
        assert ACTIONS[d.action[0]] == action, (action, observed)
    runaway_unit = evidence(cpu_ticks=30, state="D", cpu_lifetime="high", age_s=6 * 3600.0,
                            network="listening", progress="sustained")     # a unit spinning for hours, thrashing
    assert ACTIONS[_decide_evidence(runaway_unit, restart=True).action[0]] == "restart"


@pytest.mark.parametrize("command", ["unknown", "test_runner", "build", "package_manager"])
def test_busy_work_with_progress_under_a_live_parent_is_kept(command):
    """Busy is not harm: a job that reads or writes while busy, under a live
    parent on a terminal, is kept fresh, at a minute and hours on; the same
    job spinning with nothing to show is not, once that has lasted."""
    for age in (5.0, 61.0, 3 * 3600.0):
        busy = evidence(**BUSY_WITH_PROGRESS, age_s=age, command=command)
        assert ACTIONS[_decide_evidence(busy).action[0]] == "keep", (command, age)
    spinning = evidence(**SPINNING, age_s=3 * 3600.0, command=command)
    assert ACTIONS[_decide_evidence(spinning).action[0]] != "keep", command


def _decide_evidence(ev, restart=False):
    available = np.ones((len(ev), len(ACTIONS)), bool)
    available[:, ACTIONS.index("restart")] = restart
    return decide(infer(ev, TABLES), POLICY, impact=np.zeros(len(ev)), available=available,
                  protected=np.zeros(len(ev), bool))
