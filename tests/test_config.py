"""Priors and policy: shipped defaults load, user files override, bad values are named."""
import json

import pytest

from pt.config import ACTIONS, CLASSES, ConfigError, load_policy, load_priors


def test_shipped_defaults_are_valid():
    priors, policy = load_priors(), load_policy()
    assert len(priors.class_prior) == 4 and abs(sum(priors.class_prior) - 1) < 1e-12
    assert set(policy.loss) == set(ACTIONS)
    assert all(set(row) == set(CLASSES) for row in policy.loss.values())
    assert priors.source.endswith("priors.json") and len(priors.digest) == 16


def test_user_file_overrides_only_what_it_names(tmp_path, monkeypatch):
    (tmp_path / "pt").mkdir()
    (tmp_path / "pt" / "policy.json").write_text(json.dumps({"fdr": {"alpha": 0.01}}))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    policy = load_policy()
    assert policy.fdr_alpha == 0.01
    assert policy.loss == load_policy(tmp_path / "pt" / "policy.json").loss
    assert policy.source == str(tmp_path / "pt" / "policy.json")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    assert load_policy().digest != policy.digest  # the hash follows the content


@pytest.mark.parametrize("override, key, value", [
    ({"class_prior": {"useful": 0.9}}, "class_prior", None),
    ({"class_prior": {"useful": -1}}, "class_prior.useful", -1),
    ({"cpu_window": {"useful": [1, 0]}}, "cpu_window.useful[1]", 0),
    ({"cpu_window": {"useful": "wide"}}, "cpu_window.useful", "wide"),
    ({"survival": {"by_category": {"gardening": {"useful": [1, 2]}}}}, "survival.by_category.gardening", "gardening"),
    ({"runtime": {"by_category": {"shell": {"useful": [1, 2]}}}}, "runtime.by_category", None),
    ({"categorical": {"tty": {"useful": [1, 2]}}}, "categorical.tty.useful", [1, 2]),
    ({"categorical": {"state": {"levels": ["R"]}}}, "categorical.state.levels", ["R"]),
    ({"version": 7}, "version", 7),
    ({"orphan": {"hamster": [1, 1]}}, "orphan.hamster", [1, 1]),
])
def test_bad_priors_name_file_key_and_value(tmp_path, override, key, value):
    path = tmp_path / "priors.json"
    path.write_text(json.dumps(override))
    with pytest.raises(ConfigError) as info:
        load_priors(path)
    assert info.value.file == str(path) and info.value.key == key
    if value is not None:
        assert info.value.value == value
    assert str(path) in str(info.value) and key in str(info.value)


@pytest.mark.parametrize("override, key", [
    ({"loss": {"kill": {"useful": -5}}}, "loss.kill.useful"),
    ({"loss": {"smite": {}}}, "loss.smite"),
    ({"robust_prior": {"useful": [0.9, 0.1]}}, "robust_prior.useful"),
    ({"robust_prior": {"useful": [0.0, 0.1]}}, "robust_prior"),
    ({"fdr": {"alpha": 0}}, "fdr.alpha"),
    ({"window_s": "soon"}, "window_s"),
    ({"guards": {"protected_patterns": ["(unclosed"]}}, "guards.protected_patterns"),
    ({"guards": {"allow_other_users": "yes"}}, "guards.allow_other_users"),
    ({"guards": {"boot_grace_s": -1}}, "guards.boot_grace_s"),
    ({"guards": {"boot_grace_s": "early"}}, "guards.boot_grace_s"),
    ({"actions": {"first_signal": {"test_runner": "SIGNOPE"}}}, "actions.first_signal.test_runner"),
    ({"actions": {"first_signal": {"golfer": "SIGINT"}}}, "actions.first_signal.golfer"),
    ({"actions": {"pause_method": "nap"}}, "actions.pause_method"),
    ({"actions": {"rate_limits": {"kill": {"fortnight": 3}}}}, "actions.rate_limits.kill.fortnight"),
    ({"actions": {"rate_limits": {"kill": {"hour": -1}}}}, "actions.rate_limits.kill.hour"),
    ({"actions": {"renice_to": 25}}, "actions.renice_to"),
    ({"actions": {"plan_ttl_s": 0}}, "actions.plan_ttl_s"),
    ({"actions": {"max_actions_per_run": 0}}, "actions.max_actions_per_run"),
])
def test_bad_policy_names_file_and_key(tmp_path, override, key):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(override))
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert info.value.key == key and str(path) in str(info.value)


def test_broken_json_and_unreadable_file(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text('{"fdr": {"alpha": 0.1,}}')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_policy(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(tmp_path / "missing.json")


@pytest.mark.parametrize("override, key", [
    ({"guards": {"protected_patern": ["^x$"]}}, "guards.protected_patern"),
    ({"gaurds": {}}, "gaurds"),
])
def test_misspelt_policy_keys_are_errors(tmp_path, override, key):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(override))
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert info.value.key == key and "unknown key" in str(info.value)


def test_user_protected_patterns_add_to_the_shipped_ones(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"guards": {"protected_patterns": ["^myapp$"]}}))
    patterns = [p.pattern for p in load_policy(path).protected_patterns]
    shipped = [p.pattern for p in load_policy().protected_patterns]
    assert patterns == shipped + ["^myapp$"]


def test_action_settings_override_and_category_signals():
    policy = load_policy()
    assert policy.actions.signal_for("test_runner") == "SIGINT"
    assert policy.actions.signal_for("daemon") == "SIGTERM"
    assert policy.actions.rate_limits["kill"]["minute"] >= 1
