"""Priors and policy: shipped defaults, user overrides, validation on load.

Policy is data (docs/design.md). The shipped ``pt/data/priors.json`` and
``pt/data/policy.json`` are read from the package (:mod:`pt.data`); a user file of
the same name under ``$XDG_CONFIG_HOME/pt/`` (default ``~/.config/pt/``) is
deep-merged over them, so it only needs the keys it changes. Every value is
checked on load and a bad one raises :class:`ConfigError` naming the file,
the key path and the value.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from pt.config_errors import ConfigError
from pt.data import read_text as shipped_text

CLASSES = ("useful", "useful_bad", "abandoned", "zombie")
ACTIONS = ("keep", "renice", "throttle", "quarantine", "pause", "restart", "kill")

#: Levels of each categorical feature, in the order the feature code uses.
CATEGORICAL_LEVELS = {
    "tty": ("none", "dead", "background", "foreground"),
    "state": ("R", "S", "D", "Z", "T", "I", "other"),
    "cpu_lifetime": ("idle", "low", "moderate", "high"),
    "children": ("none", "idle", "active"),
    "network": ("none", "listening", "connected", "serving"),
    "parent": ("reaper", "live"),
    "daemon": ("none", "detached", "daemon"),
    "activity": ("recent", "hours", "days"),
    "progress": ("idle", "progress", "spinning", "sustained"),
    "command": ("test_runner", "dev_server", "agent", "shell", "build", "daemon", "editor_lsp",
                "database", "server", "vcs", "package_manager", "container", "unknown"),
    "cwd": ("repo", "temp", "home", "deleted", "root", "unknown"),
}
#: Two-parameter features: (Beta or Gamma parameters per class), and whether
#: they take per-command-category overrides.
PAIR_FEATURES = {"cpu_window": True, "runtime": False, "survival": True, "orphan": False,
                 "io_window": False}

# Domains of the parameters the model's kernels consume. Inside them every
# posterior term is finite for any evidence a scan can produce (ages from 1 ms
# to centuries, windows of any length); outside them the log-Beta and log-Gamma
# terms overflow or lose all precision (``runtime.useful: [1e-320, 1e-320]``
# made 1/scale infinite and the posterior NaN).
#: Beta and Dirichlet pseudo-counts and Gamma shapes: from a millionth of an
#: observation to a million observations.
PSEUDO_COUNT = (1e-6, 1e6)
#: Gamma scales and rates in seconds (age, survival): 1 ms to 30,000 years.
SECONDS = (1e-3, 1e12)
#: Each pair feature's (first, second) parameter domain.
PAIR_DOMAINS = {"cpu_window": (PSEUDO_COUNT, PSEUDO_COUNT), "runtime": (PSEUDO_COUNT, SECONDS),
                "survival": (PSEUDO_COUNT, SECONDS), "orphan": (PSEUDO_COUNT, PSEUDO_COUNT),
                "io_window": (PSEUDO_COUNT, PSEUDO_COUNT)}
#: Change-point rate per sample: a change expected every 2 samples is not a change point.
CHANGEPOINT_RATE = (1e-6, 0.5)
#: Loss values and dependency-impact weights: large enough for any loss scale,
#: small enough that scaled expected losses stay finite.
LOSS = (0.0, 1e6)
IMPACT_WEIGHT = (0.0, 1e3)
#: Smallest lower bound of a robust-prior interval: a credal vertex with a zero
#: class weight can leave every posterior weight zero (0/0).
ROBUST_PRIOR_MIN = 1e-6
#: Largest uid (uid_t is 32 bits).
MAX_UID = 2**32 - 1
#: Deep-scan sampling limits: the sampler preallocates every sample.
DEEP_MAX_TIME_S = 3600.0
DEEP_MAX_SAMPLES = 36_000
DEEP_MAX_CANDIDATES = 1000


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/pt`` or ``~/.config/pt``: where user priors, policy and rules live."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "pt"


#: Largest config file pt reads (the shipped ones are a few KB), and deepest
#: nesting of objects and lists in one (pt's own files go 4 deep): beyond
#: either a file is refused, never parsed into a crash.
MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 32


def read_config_text(path: str | os.PathLike) -> str:
    """The text of a user config file: a regular file of at most
    :data:`MAX_FILE_BYTES`, UTF-8; anything else raises :class:`ConfigError`
    naming the file (a FIFO or device is refused, not read)."""
    file = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError(file, "<document>", None, "not a regular file")
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(file, "<document>", None, f"cannot read: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(file, "<document>", None, f"larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "<document>", data[exc.start:exc.start + 8],
                          f"not UTF-8 text (invalid byte at offset {exc.start})") from None


def parse_config_json(text: str, file: str):
    """``text`` parsed as JSON, nested at most :data:`MAX_DEPTH` deep; a
    problem raises :class:`ConfigError` naming ``file``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(file, "<document>", text[max(exc.pos - 20, 0):exc.pos + 20],
                          f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:              # deeper than Python's stack allows
        raise _nested_too_deep(file) from None
    except ValueError as exc:           # e.g. an integer of more than 4300 digits
        raise ConfigError(file, "<document>", None, f"not valid JSON ({exc})") from None
    if _too_deep(data):
        raise _nested_too_deep(file)
    return data


def _nested_too_deep(file: str) -> ConfigError:
    return ConfigError(file, "<document>", None, f"nested more than {MAX_DEPTH} levels deep")


def _too_deep(doc) -> bool:
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                return True
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return False


def _read_json(text: str, file: str) -> dict:
    data = parse_config_json(text, file)
    if not isinstance(data, dict):
        raise ConfigError(file, "<document>", type(data).__name__, "must be a JSON object")
    return data


#: Lists a user file adds to rather than replaces: a user cannot drop a shipped
#: protection by naming one of their own.
ADDITIVE_LISTS = ("protected_patterns",)


def _deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        elif key in ADDITIVE_LISTS and isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = merged[key] + [v for v in value if v not in merged[key]]
        else:
            merged[key] = value
    return merged


def _load(name: str, path: str | os.PathLike | None) -> tuple[dict, str]:
    """Shipped defaults merged with the user file (or ``path``); returns the
    document and the name of the file errors should blame."""
    shipped = _read_json(shipped_text(name), f"<pt>/data/{name}")
    base = f"<pt>/data/{name}"
    if name == "priors.json" and path is None:
        shipped, base = _with_learned(shipped, base)
    user = Path(path) if path is not None else config_dir() / name
    if path is None and not user.exists():
        return shipped, base
    merged = _deep_merge(shipped, _read_json(read_config_text(user), str(user)))
    return merged, str(user) if base == f"<pt>/data/{name}" else f"{base} + {user}"


def _with_learned(shipped: dict, base: str) -> tuple[dict, str]:
    """The shipped priors with ``pt calibrate``'s learned priors merged in,
    if there are valid ones (pt/learn/store.py); else, with a warning, as shipped."""
    from pt.learn.store import learned_path, read_learned, warn
    found = read_learned()
    if found is None:
        return shipped, base
    overlay, learned = found
    merged = _deep_merge(shipped, overlay)
    where = str(learned_path())
    try:
        if merged.get("version") != 1:
            raise ConfigError(where, "version", merged.get("version"), "must be 1")
        _priors(merged, where)
    except ConfigError as exc:
        warn(f"ignoring the learned priors: {exc}")
        return shipped, base
    generation = learned.get("generation")
    generation = generation if isinstance(generation, int) and not isinstance(generation, bool) else "?"
    return merged, f"{base} + {where} (pt calibrate, generation {generation})"


# --- validation helpers ------------------------------------------------------------

def _number(file, key, value, *, low=None, high=None, strict_low=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        raise ConfigError(file, key, value, "must be a finite number")
    if low is not None and (value <= low if strict_low else value < low):
        raise ConfigError(file, key, value, f"must be {'>' if strict_low else '>='} {low:g}")
    if high is not None and value > high:
        raise ConfigError(file, key, value, f"must be <= {high:g}")
    return float(value)


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:               # an integer beyond any double (JSON allows 4300 digits)
        return False


def _pair(file, key, value, domains):
    if not isinstance(value, list) or len(value) != 2:
        raise ConfigError(file, key, value, "must be a list of two positive numbers")
    return tuple(_number(file, f"{key}[{i}]", v, low=lo, high=hi)
                 for i, (v, (lo, hi)) in enumerate(zip(value, domains)))


def _is_list(value, expected: tuple) -> bool:
    """``value`` is the JSON list ``expected`` (classes or levels, in order)."""
    return isinstance(value, list) and tuple(value) == expected


def _mapping(file, key, value):
    if not isinstance(value, dict):
        raise ConfigError(file, key, value, "must be an object")
    return value


def _only_keys(file, key, mapping, allowed):
    for k in mapping:
        if k not in allowed and k != "doc":
            raise ConfigError(file, f"{key}.{k}" if key else k, mapping[k],
                              f"unknown key; expected one of {', '.join(allowed)}")


def _hash(doc: dict) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


# --- priors -------------------------------------------------------------------------

@dataclass(frozen=True)
class Priors:
    """Validated priors: ``class_prior`` (4 floats), ``pairs[feature][class]``
    and ``by_category[feature][category][class]`` parameter pairs, and
    ``categorical[feature][class]`` Dirichlet pseudo-counts; ``source`` is the
    file that was read and ``digest`` a content hash for telemetry."""

    class_prior: tuple[float, ...]
    pairs: dict
    by_category: dict
    categorical: dict
    regime: dict                # class -> (P(steady), P(stopped), P(started))
    changepoint_rate: float
    wakeups: dict               # class -> (shape a, rate b seconds) of the Gamma on the wake-up rate
    source: str
    digest: str
    tree_coupling: float = 0.0  # Potts strength (nats) between parent and child classes
    memory_growth: dict | None = None  # class -> (steady, growing, shrinking) weights; the two scales in MB/s
    incidents: dict | None = None  # lifecycle incident thresholds (pt.infer.incidents.Thresholds)


REGIME_LEVELS = ("steady", "stopped", "started")
GROWTH_LEVELS = ("steady", "growing", "shrinking")
#: Memory growth scales (MB/s): from a page an hour to a terabyte a second.
GROWTH_RATE = (1e-6, 1e6)
#: Largest Potts strength accepted (nats): e**5, 150 to 1 for a shared class, already near a hard tie.
TREE_COUPLING_MAX = 5.0


def _mixture_weights(file: str, name: str, section: dict, levels: tuple[str, ...]) -> dict:
    """Per-class probabilities of ``levels`` (each list sums to 1) of ``timeseries.<name>``."""
    if not _is_list(section.get("levels"), levels):
        raise ConfigError(file, f"timeseries.{name}.levels", section.get("levels"), f"must be {list(levels)}")
    out = {}
    for c in CLASSES:
        key = f"timeseries.{name}.{c}"
        probs = section.get(c)
        if not isinstance(probs, list) or len(probs) != len(levels):
            raise ConfigError(file, key, probs, f"must be a list of {len(levels)} probabilities")
        values = tuple(_number(file, f"{key}[{i}]", p, low=0, high=1) for i, p in enumerate(probs))
        if abs(sum(values) - 1) > 1e-6:
            raise ConfigError(file, key, probs, "must sum to 1")
        out[c] = values
    return out


def _memory_growth(file: str, section: dict) -> dict:
    key = "timeseries.memory_growth"
    _only_keys(file, key, section, ("levels", *CLASSES, "steady_sd_mb_s", "growth_scale_mb_s", "episode_s",
                                           "steady_span_s", "lasting_floor"))
    out = _mixture_weights(file, "memory_growth", section, GROWTH_LEVELS)
    for c, w in out.items():
        if min(w) <= 0:
            raise ConfigError(file, f"{key}.{c}", list(w), "every weight must be > 0 (a zero weight makes "
                              "one observation infinitely strong)")
    for name in ("steady_sd_mb_s", "growth_scale_mb_s"):
        out[name] = _number(file, f"{key}.{name}", section.get(name), low=GROWTH_RATE[0], high=GROWTH_RATE[1])
    out["episode_s"] = _number(file, f"{key}.episode_s", section.get("episode_s"), low=SECONDS[0], high=SECONDS[1])
    out["steady_span_s"] = _number(file, f"{key}.steady_span_s", section.get("steady_span_s", 30.0),
                                   low=SECONDS[0], high=SECONDS[1])
    out["lasting_floor"] = _number(file, f"{key}.lasting_floor", section.get("lasting_floor", 0.01),
                                   low=1e-6, high=1.0)
    return out


def _timeseries(file: str, doc: dict) -> tuple[dict, float, dict, dict]:
    _only_keys(file, "timeseries", doc, ("cpu_regime", "changepoint_rate", "wakeups", "memory_growth"))
    regime = _mixture_weights(file, "cpu_regime", _mapping(file, "timeseries.cpu_regime", doc.get("cpu_regime")),
                              REGIME_LEVELS)
    rate = _number(file, "timeseries.changepoint_rate", doc.get("changepoint_rate"),
                   low=CHANGEPOINT_RATE[0], high=CHANGEPOINT_RATE[1])
    section = _mapping(file, "timeseries.wakeups", doc.get("wakeups"))
    _only_keys(file, "timeseries.wakeups", section, CLASSES)
    wakeups = {c: _pair(file, f"timeseries.wakeups.{c}", section.get(c), (PSEUDO_COUNT, SECONDS))
               for c in CLASSES}
    growth = _memory_growth(file, _mapping(file, "timeseries.memory_growth", doc.get("memory_growth")))
    return regime, rate, wakeups, growth


def _versioned(name: str, path) -> tuple[dict, str]:
    doc, file = _load(name, path)
    if doc.get("version") != 1:
        raise ConfigError(file, "version", doc.get("version"), "must be 1")
    return doc, file


def load_priors(path: str | os.PathLike | None = None) -> Priors:
    doc, file = _versioned("priors.json", path)
    return _priors(doc, file)


def shipped_priors() -> Priors:
    """The priors pt ships, without learned or user files (what calibration starts from)."""
    return _priors(_read_json(shipped_text("priors.json"),
                              "<pt>/data/priors.json"), "<pt>/data/priors.json")


def _priors(doc: dict, file: str) -> Priors:
    """Validate a whole priors document (``file`` names it in errors)."""
    _only_keys(file, "", doc, ("version", "classes", "class_prior", *PAIR_FEATURES, "categorical",
                               "timeseries", "tree", "incidents"))
    if not _is_list(doc.get("classes"), CLASSES):
        raise ConfigError(file, "classes", doc.get("classes"), f"must be {list(CLASSES)}")
    cp = _mapping(file, "class_prior", doc.get("class_prior"))
    _only_keys(file, "class_prior", cp, CLASSES)
    class_prior = tuple(_number(file, f"class_prior.{c}", cp.get(c), low=0, strict_low=True)
                        for c in CLASSES)
    if abs(sum(class_prior) - 1) > 1e-6:
        raise ConfigError(file, "class_prior", cp, f"must sum to 1, sums to {sum(class_prior):.6g}")

    pairs, by_category = {}, {}
    for feature, per_category in PAIR_FEATURES.items():
        section = _mapping(file, feature, doc.get(feature))
        _only_keys(file, feature, section, (*CLASSES, "by_category"))
        domains = PAIR_DOMAINS[feature]
        pairs[feature] = {c: _pair(file, f"{feature}.{c}", section.get(c), domains) for c in CLASSES}
        overrides = _mapping(file, f"{feature}.by_category", section.get("by_category", {}))
        if overrides and not per_category:
            raise ConfigError(file, f"{feature}.by_category", overrides, "this feature has no per-category priors")
        by_category[feature] = {}
        for category, per_class in overrides.items():
            key = f"{feature}.by_category.{category}"
            if category not in CATEGORICAL_LEVELS["command"]:
                raise ConfigError(file, key, category, "unknown command category")
            _only_keys(file, key, _mapping(file, key, per_class), CLASSES)
            by_category[feature][category] = {c: _pair(file, f"{key}.{c}", v, domains)
                                               for c, v in per_class.items()}

    categorical = {}
    cat_doc = _mapping(file, "categorical", doc.get("categorical"))
    _only_keys(file, "categorical", cat_doc, CATEGORICAL_LEVELS)
    for feature, levels in CATEGORICAL_LEVELS.items():
        key = f"categorical.{feature}"
        section = _mapping(file, key, cat_doc.get(feature))
        if not _is_list(section.get("levels"), levels):
            raise ConfigError(file, f"{key}.levels", section.get("levels"), f"must be {list(levels)}")
        categorical[feature] = {}
        for c in CLASSES:
            alphas = section.get(c)
            if not isinstance(alphas, list) or len(alphas) != len(levels):
                raise ConfigError(file, f"{key}.{c}", alphas,
                                  f"must be a list of {len(levels)} positive pseudo-counts")
            categorical[feature][c] = tuple(_number(file, f"{key}.{c}[{i}]", a, low=PSEUDO_COUNT[0],
                                                    high=PSEUDO_COUNT[1]) for i, a in enumerate(alphas))
    regime, rate, wakeups, growth = _timeseries(file, _mapping(file, "timeseries", doc.get("timeseries")))
    tree = _mapping(file, "tree", doc.get("tree", {}))
    _only_keys(file, "tree", tree, ("doc", "coupling"))
    coupling = _number(file, "tree.coupling", tree.get("coupling", 0.0), low=0, high=TREE_COUPLING_MAX)
    return Priors(class_prior, pairs, by_category, categorical, regime, rate, wakeups, file, _hash(doc),
                  coupling, growth, _incidents(file, _mapping(file, "incidents", doc.get("incidents", {}))))


#: Keys of the ``incidents`` priors: counts are whole numbers >= 1, the rest positive numbers.
INCIDENT_COUNTS = ("flood_min", "respawn_min")
INCIDENT_NUMBERS = ("lookback_s", "storm_births_per_s", "storm_probability", "runaway_cores", "busy_share",
                    "calm_share", "short_s", "flood_per_s")


def _incidents(file: str, doc: dict) -> dict:
    """The lifecycle-incident thresholds given (defaults for the rest live in
    :class:`pt.infer.incidents.Thresholds`)."""
    _only_keys(file, "incidents", doc, (*INCIDENT_COUNTS, *INCIDENT_NUMBERS, "offspring_prior"))
    out = {}
    for k in INCIDENT_NUMBERS:
        if k in doc:
            out[k] = _number(file, f"incidents.{k}", doc[k], low=0, strict_low=True,
                             high=1 if k == "storm_probability" else None)
    for k in INCIDENT_COUNTS:
        if k in doc:
            value = doc[k]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(file, f"incidents.{k}", value, "must be a whole number >= 1")
            out[k] = value
    if "offspring_prior" in doc:
        pair = doc["offspring_prior"]
        if not isinstance(pair, list) or len(pair) != 2:
            raise ConfigError(file, "incidents.offspring_prior", pair, "must be [shape, rate], both > 0")
        out["offspring_prior"] = tuple(_number(file, f"incidents.offspring_prior[{i}]", v, low=0,
                                               strict_low=True) for i, v in enumerate(pair))
    return out


# --- policy ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ActionPolicy:
    """How confirmed plans are carried out: see the ``actions`` section of
    ``pt/data/policy.json`` for the meaning of each field."""

    plan_ttl_s: float
    min_age_s: float
    kill_grace_s: float
    first_signal: dict          # command category or "default" -> signal name
    renice_to: int
    throttle_cpu: float
    throttle_memory_high_bytes: int | None
    pause_method: str
    rate_limits: dict           # action or "any" -> {"minute"|"hour"|"day": count}
    max_actions_per_run: int
    respawn_cooldown_s: float

    def signal_for(self, category: str) -> str:
        """The first signal of a kill for a process of this command category."""
        return self.first_signal.get(category, self.first_signal["default"])


RATE_PERIODS = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}
ACTION_KEYS = ("plan_ttl_s", "min_age_s", "kill_grace_s", "first_signal", "renice_to", "throttle_cpu",
               "throttle_memory_high_bytes", "pause_method", "rate_limits", "max_actions_per_run",
               "respawn_cooldown_s")


def _signal_name(file, key, value) -> str:
    import signal
    if not isinstance(value, str) or value not in signal.Signals.__members__:
        raise ConfigError(file, key, value, "must be a signal name such as SIGTERM or SIGINT")
    return value


def _action_policy(file: str, doc: dict) -> ActionPolicy:
    _only_keys(file, "actions", doc, ACTION_KEYS)
    signals = _mapping(file, "actions.first_signal", doc.get("first_signal"))
    _only_keys(file, "actions.first_signal", signals, ("default",) + CATEGORICAL_LEVELS["command"])
    if "default" not in signals:
        raise ConfigError(file, "actions.first_signal.default", None, "is required")
    first = {k: _signal_name(file, f"actions.first_signal.{k}", v) for k, v in signals.items() if k != "doc"}
    limits_doc = _mapping(file, "actions.rate_limits", doc.get("rate_limits"))
    _only_keys(file, "actions.rate_limits", limits_doc, ACTIONS + ("any",))
    limits = {}
    for action, periods in limits_doc.items():
        if action == "doc":
            continue
        key = f"actions.rate_limits.{action}"
        _only_keys(file, key, _mapping(file, key, periods), tuple(RATE_PERIODS))
        limits[action] = {p: int(_number(file, f"{key}.{p}", n, low=0)) for p, n in periods.items()
                          if p != "doc"}
    memory = doc.get("throttle_memory_high_bytes")
    if memory is not None:
        memory = int(_number(file, "actions.throttle_memory_high_bytes", memory, low=1))
    method = doc.get("pause_method")
    if method not in ("sigstop", "freeze"):
        raise ConfigError(file, "actions.pause_method", method, "must be \"sigstop\" or \"freeze\"")
    return ActionPolicy(
        plan_ttl_s=_number(file, "actions.plan_ttl_s", doc.get("plan_ttl_s"), low=0, strict_low=True),
        min_age_s=_number(file, "actions.min_age_s", doc.get("min_age_s"), low=0),
        kill_grace_s=_number(file, "actions.kill_grace_s", doc.get("kill_grace_s"), low=0, high=600),
        first_signal=first,
        renice_to=int(_number(file, "actions.renice_to", doc.get("renice_to"), low=-20, high=19)),
        throttle_cpu=_number(file, "actions.throttle_cpu", doc.get("throttle_cpu"), low=0.01, high=1024),
        throttle_memory_high_bytes=memory,
        pause_method=method,
        rate_limits=limits,
        max_actions_per_run=int(_number(file, "actions.max_actions_per_run",
                                        doc.get("max_actions_per_run"), low=1)),
        respawn_cooldown_s=_number(file, "actions.respawn_cooldown_s", doc.get("respawn_cooldown_s"), low=0),
    )


@dataclass(frozen=True)
class DeepScanPolicy:
    """How ``pt deep-scan`` watches: see the ``deep_scan`` section of policy.json."""

    max_time_s: float
    interval_s: float
    candidates: int
    wait_cost_per_s: float
    voi_every_s: float
    horizon_max_s: float
    pause_on_timeout: bool
    min_idle_watch_s: float


DEEP_KEYS = ("max_time_s", "interval_s", "candidates", "wait_cost_per_s", "voi_every_s", "horizon_max_s",
             "pause_on_timeout", "min_idle_watch_s")


def _deep_policy(file: str, doc: dict) -> DeepScanPolicy:
    _only_keys(file, "deep_scan", doc, DEEP_KEYS)
    pause = doc.get("pause_on_timeout")
    if not isinstance(pause, bool):
        raise ConfigError(file, "deep_scan.pause_on_timeout", pause, "must be true or false")
    num = {k: _number(file, f"deep_scan.{k}", doc.get(k), low=0, strict_low=True)
           for k in ("max_time_s", "interval_s", "voi_every_s", "horizon_max_s")}
    if num["interval_s"] < 0.01:
        raise ConfigError(file, "deep_scan.interval_s", num["interval_s"], "must be at least 0.01")
    if num["max_time_s"] > DEEP_MAX_TIME_S:
        raise ConfigError(file, "deep_scan.max_time_s", num["max_time_s"], f"must be <= {DEEP_MAX_TIME_S:g}")
    if num["max_time_s"] / num["interval_s"] > DEEP_MAX_SAMPLES:
        raise ConfigError(file, "deep_scan.max_time_s", num["max_time_s"],
                          f"with interval_s {num['interval_s']:g} takes more than {DEEP_MAX_SAMPLES} samples")
    return DeepScanPolicy(
        max_time_s=num["max_time_s"], interval_s=num["interval_s"],
        candidates=int(_number(file, "deep_scan.candidates", doc.get("candidates"), low=1,
                               high=DEEP_MAX_CANDIDATES)),
        wait_cost_per_s=_number(file, "deep_scan.wait_cost_per_s", doc.get("wait_cost_per_s"), low=0),
        voi_every_s=num["voi_every_s"], horizon_max_s=num["horizon_max_s"], pause_on_timeout=pause,
        min_idle_watch_s=_number(file, "deep_scan.min_idle_watch_s", doc.get("min_idle_watch_s"), low=0))


@dataclass(frozen=True)
class StabilityPolicy:
    """Hysteresis on recommendations: see the ``stability`` section of policy.json."""

    margin: float
    memory_s: float
    history_s: float
    history_gap_s: float


def _stability_policy(file: str, doc: dict) -> StabilityPolicy:
    _only_keys(file, "stability", doc, ("margin", "memory_s", "history_s", "history_gap_s"))
    return StabilityPolicy(margin=_number(file, "stability.margin", doc.get("margin"), low=0),
                           memory_s=_number(file, "stability.memory_s", doc.get("memory_s"), low=0),
                           history_s=_number(file, "stability.history_s", doc.get("history_s"), low=1, high=86400),
                           history_gap_s=_number(file, "stability.history_gap_s", doc.get("history_gap_s"),
                                                 low=0, high=7 * 86400))


@dataclass(frozen=True)
class QueueingPolicy:
    """CPU contention in the loss of keep: see the ``queueing`` section of policy.json."""

    scale: float = 0.5
    cap: float = 2.0


def _queueing_policy(file: str, doc: dict) -> QueueingPolicy:
    _only_keys(file, "queueing", doc, ("scale", "cap"))
    return QueueingPolicy(scale=_number(file, "queueing.scale", doc.get("scale"), low=0, high=LOSS[1]),
                          cap=_number(file, "queueing.cap", doc.get("cap"), low=0, high=LOSS[1]))


@dataclass(frozen=True)
class Policy:
    """Validated policy: the loss matrix ``loss[action][class]``, dependency
    weights, robust prior intervals, FDR alpha, window length, guards and
    how actions are carried out."""

    loss: dict
    dependency_impact: dict
    robust_prior: dict
    fdr_alpha: float
    window_s: float
    min_user_uid: int
    allow_other_users: bool
    allow_system_services: bool
    protected_patterns: tuple[re.Pattern, ...]
    actions: ActionPolicy
    deep_scan: DeepScanPolicy
    stability: StabilityPolicy
    source: str
    digest: str
    boot_grace_s: float = 60.0
    queueing: QueueingPolicy = QueueingPolicy()


GUARD_KEYS = ("min_user_uid", "allow_other_users", "allow_system_services", "protected_patterns",
              "boot_grace_s")


def load_policy(path: str | os.PathLike | None = None) -> Policy:
    doc, file = _versioned("policy.json", path)
    _only_keys(file, "", doc, ("version", "loss", "dependency_impact", "robust_prior", "fdr",
                               "window_s", "guards", "actions", "deep_scan", "stability", "queueing"))
    loss_doc = _mapping(file, "loss", doc.get("loss"))
    _only_keys(file, "loss", loss_doc, ACTIONS)
    loss = {}
    for action in ACTIONS:
        row = _mapping(file, f"loss.{action}", loss_doc.get(action))
        _only_keys(file, f"loss.{action}", row, CLASSES)
        loss[action] = {c: _number(file, f"loss.{action}.{c}", row.get(c), low=LOSS[0], high=LOSS[1])
                        for c in CLASSES}

    dep_doc = _mapping(file, "dependency_impact", doc.get("dependency_impact"))
    weights = ("listening", "clients", "children", "files")
    _only_keys(file, "dependency_impact", dep_doc, weights)
    dependency = {k: _number(file, f"dependency_impact.{k}", dep_doc.get(k), low=IMPACT_WEIGHT[0],
                             high=IMPACT_WEIGHT[1]) for k in weights}

    rp_doc = _mapping(file, "robust_prior", doc.get("robust_prior"))
    _only_keys(file, "robust_prior", rp_doc, CLASSES)
    robust = {}
    for c in CLASSES:
        lo, hi = (_number(file, f"robust_prior.{c}[{i}]", v, low=0, high=1)
                  for i, v in enumerate(_pair_list(file, f"robust_prior.{c}", rp_doc.get(c))))
        if lo > hi:
            raise ConfigError(file, f"robust_prior.{c}", [lo, hi], "lower bound exceeds upper bound")
        robust[c] = (lo, hi)
    if sum(lo for lo, _ in robust.values()) > 1 or sum(hi for _, hi in robust.values()) < 1:
        raise ConfigError(file, "robust_prior", rp_doc, "no prior in these intervals sums to 1")
    for c, (lo, _) in robust.items():
        if lo < ROBUST_PRIOR_MIN:
            raise ConfigError(file, f"robust_prior.{c}[0]", lo, f"must be >= {ROBUST_PRIOR_MIN:g}")

    fdr = _mapping(file, "fdr", doc.get("fdr"))
    alpha = _number(file, "fdr.alpha", fdr.get("alpha"), low=0, high=1, strict_low=True)
    window = _number(file, "window_s", doc.get("window_s"), low=0, high=60, strict_low=True)

    guards = _mapping(file, "guards", doc.get("guards"))
    _only_keys(file, "guards", guards, GUARD_KEYS)
    patterns = guards.get("protected_patterns", [])
    if not isinstance(patterns, list):
        raise ConfigError(file, "guards.protected_patterns", patterns, "must be a list of regexes")
    compiled = []
    for pattern in patterns:   # shipped and user lists are merged: name the pattern itself
        try:
            compiled.append(re.compile(pattern))
        except (re.error, TypeError, RecursionError, OverflowError) as exc:
            raise ConfigError(file, "guards.protected_patterns", pattern,
                              f"not a valid regex: {exc}") from None
    flags = {}
    for name in ("allow_other_users", "allow_system_services"):
        value = guards.get(name, False)
        if not isinstance(value, bool):
            raise ConfigError(file, f"guards.{name}", value, "must be true or false")
        flags[name] = value
    min_uid = _number(file, "guards.min_user_uid", guards.get("min_user_uid", 1000), low=0, high=MAX_UID)
    grace = _number(file, "guards.boot_grace_s", guards.get("boot_grace_s", 60), low=0, high=86400)
    return Policy(loss, dependency, robust, alpha, window, int(min_uid), flags["allow_other_users"],
                  flags["allow_system_services"], tuple(compiled),
                  _action_policy(file, _mapping(file, "actions", doc.get("actions"))),
                  _deep_policy(file, _mapping(file, "deep_scan", doc.get("deep_scan"))),
                  _stability_policy(file, _mapping(file, "stability", doc.get("stability"))), file, _hash(doc),
                  grace, _queueing_policy(file, _mapping(file, "queueing", doc.get("queueing"))))


def _pair_list(file, key, value):
    if not isinstance(value, list) or len(value) != 2:
        raise ConfigError(file, key, value, "must be a list [low, high]")
    return value
