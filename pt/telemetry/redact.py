"""The redaction policy: what of a process may reach the lake, and in what form.

Design invariant 6: telemetry never stores secrets. Before anything is
persisted, every sensitive value is either

- **kept** when it is a *safe token*: the executable's base name, a flag name
  (``--port``), a command or cwd category, numbers pt computed itself;
- **keyed-hashed** (HMAC-SHA256 with a per-install key, truncated to 64 bits,
  prefixed by the kind of value: ``p:`` path, ``u:`` URL or endpoint, ``h:``
  anything else) when it is a command-line argument, a path, a user name, a
  host name or an endpoint: equal values group together, the value itself
  cannot be recovered or confirmed without the key;
- **dropped** (replaced by :data:`SECRET`) when it looks like a secret: the
  value of a flag or ``key=value`` whose name says token/password/secret/key,
  ``Authorization:``/``Bearer`` headers, credentials in URLs, AWS, GitHub,
  OpenAI, Slack, Google, Stripe keys, JWTs, PEM private keys, and
  high-entropy strings. Dropped values are not hashed either: a hash of a
  secret would let a key holder confirm a guess.

The whole-command hash (``cmd_hash``) is taken over the argument vector
*after* secrets are replaced, so a command re-run with a rotated token still
groups with itself.

The policy is versioned (:data:`POLICY_VERSION`, recorded in the ``runs``
table with the key id), so old data stays interpretable when it changes.

The key (32 random bytes) is created once per install at
``$XDG_DATA_HOME/pt/telemetry.key`` (``PT_TELEMETRY_KEY`` names another
file), mode 0600, published with an exclusive link so two first scans racing
agree on one key. It never enters the lake: ``runs`` records only its id, a
one-way digest.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import math
import os
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

#: Bump when what is kept, hashed or dropped changes (2: -p/-u/-a values, --pw, --key, --otp, --pin).
POLICY_VERSION = "2"
#: What a dropped secret becomes.
SECRET = "<secret>"
KEY_ENV = "PT_TELEMETRY_KEY"
KEY_BYTES = 32
HASH_HEX = 16          # 64-bit truncated HMAC: collisions need ~4e9 distinct values

# Names of flags, keys and environment variables whose value is a secret.
_SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|api[-_]?key|apikey|access[-_]?key|private[-_]?key|"
    r"auth(orization)?|credentials?|cookie|session[-_]?(id|key)|signature|client[-_]?secret|"
    r"^-p$|bearer|(^|[-_.])(pw|key|otp|totp|pin|passcode)$)", re.IGNORECASE)
# Flags that hold a secret only in some programs (argv[0]'s base name): redis-cli -a PASSWORD.
_PROGRAM_SECRET_FLAGS = {name: frozenset({"-a"}) for name in ("redis-cli", "valkey-cli", "keydb-cli")}
# Flags whose value is a secret when it reads user:password (curl -u, --user, --proxy-user);
# a uid:gid pair (docker -u 1000:1000) is not one.
_CREDENTIAL_FLAGS = frozenset({"-u", "--user", "--proxy-user", "-U"})
_CREDENTIALS = re.compile(r"[^:\s]+:(?!\d+$)\S+")

# Values that are secrets wherever they appear inside an argument. Key formats
# are case-sensitive prefixes; the keyword forms only run when a cheap
# substring test finds one of their keywords (most arguments have none).
_KEY_FORMATS = re.compile("|".join([
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}",          # AWS access key id
    r"gh[pousr]_[A-Za-z0-9]{30,}", r"github_pat_[A-Za-z0-9_]{20,}",      # GitHub tokens
    r"sk-(?:proj-|svcacct-|admin-|ant-[a-z0-9]+-)?[A-Za-z0-9_-]{20,}",   # OpenAI / Anthropic
    r"xox[abposr]-[A-Za-z0-9-]{10,}",                                    # Slack
    r"AIza[0-9A-Za-z_-]{35}",                                            # Google API key
    r"(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}",                      # Stripe
    r"glpat-[0-9A-Za-z_-]{20}",                                          # GitLab
    r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",          # JWT
    r"-----BEGIN [A-Z ]*PRIVATE KEY",                                    # PEM
]))
_KEYWORD_FORMS = re.compile("|".join([
    r"\bbearer\s+\S+", r"\bbasic\s+[A-Za-z0-9+/=]{8,}", r"authorization\s*[:=]",
    r"://[^/\s:@]+:[^/\s@]+@",                                           # user:password@ in a URL
    r"(?:pass(?:word|wd)?|pwd|secret|token|api[-_]?key|apikey|access[-_]?key)\s*[=:]\s*\S+",
]), re.IGNORECASE)
_KEYWORDS = ("bearer", "basic", "auth", "://", "pass", "pwd", "secret", "token", "key")

# Runs of base64/base62 characters long enough to be keys; "." and ":" split
# host names, and paths need all three character classes to be suspected.
_CANDIDATE = re.compile(r"[A-Za-z0-9+/=_\-]{20,}")
ENTROPY_BITS = 3.5     # per character; English words ~2.5-3.5, random base62 of 20+ chars > 4
_HEX = re.compile(r"[0-9a-f]+|[0-9A-F]+")
_UPPER, _LOWER, _DIGIT = re.compile("[A-Z]"), re.compile("[a-z]"), re.compile("[0-9]")

_FLAG = re.compile(r"--?[A-Za-z][A-Za-z0-9_.-]*")
_KEY_VALUE = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*)=(.*)", re.DOTALL)
_ENDPOINT = re.compile(r"(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
                       r"(?::\d{1,5})?|[A-Za-z0-9.-]+:\d{1,5}|localhost")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_SAFE_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def _entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


@functools.lru_cache(maxsize=1 << 16)
def looks_secret(value: str) -> bool:
    """True if ``value`` contains a known secret format or a high-entropy token."""
    if _KEY_FORMATS.search(value):
        return True
    lower = value.lower()
    if any(k in lower for k in _KEYWORDS) and _KEYWORD_FORMS.search(value):
        return True
    for match in _CANDIDATE.finditer(value):
        token = match.group()
        if len(token) >= 32 and _HEX.fullmatch(token):
            return True                  # hex digests and hex-encoded keys
        if (_UPPER.search(token) and _LOWER.search(token) and _DIGIT.search(token)
                and _entropy(token) >= ENTROPY_BITS):
            return True                  # random base64/base62: all three classes, high entropy
    return False


@functools.lru_cache(maxsize=1 << 12)
def secret_name(name: str) -> bool:
    """True if a flag, key or environment variable called ``name`` holds a secret."""
    return bool(_SECRET_NAME.search(name.lstrip("-")) or _SECRET_NAME.search(name))


@dataclass(frozen=True)
class ArgPart:
    """One argument after ``argv[0]`` as the secret detector splits it: the
    name kept in clear (a flag, or the key of ``key=value``), what joined it to
    the value as written (``=``, or nothing in ``-pVALUE``), the value, and
    whether that value is a secret. ``secret_next`` says what the argument
    after a bare flag is: ``always`` a secret (``--password X``),
    ``credentials`` if it reads user:password (``curl -u X``), or not."""

    name: str | None
    flag: bool
    sep: str
    value: str | None
    secret: bool
    secret_next: str = ""


@functools.lru_cache(maxsize=1 << 16)
def _split(arg: str, program_flags: frozenset) -> ArgPart:
    flag = _FLAG.match(arg)
    if flag and not arg.startswith("---"):
        name = flag.group()
        rest = arg[len(name):]
        if not arg.startswith("--") and len(name) > 2:
            name, rest = name[:2], arg[2:]           # -pSECRET, -Xmx512m: short flag + value
        sep = ""
        if rest.startswith("="):
            sep, rest = "=", rest[1:]
        if not rest:
            nxt = "always" if secret_name(name) or name in program_flags else \
                "credentials" if name in _CREDENTIAL_FLAGS else ""
            return ArgPart(name, True, sep, None, False, nxt)
        secret = secret_name(name) or name in program_flags or looks_secret(rest) \
            or (name in _CREDENTIAL_FLAGS and bool(_CREDENTIALS.fullmatch(rest)))
        return ArgPart(name, True, sep, rest, secret)
    kv = _KEY_VALUE.fullmatch(arg)
    if kv and "/" not in kv.group(1):
        key, value = kv.groups()
        return ArgPart(key, False, "=", value, secret_name(key) or looks_secret(value))
    return ArgPart(None, False, "", arg, looks_secret(arg))


def split_argv(argv) -> list[ArgPart]:
    """``argv[1:]``, one :class:`ArgPart` each: the one secret detector behind
    everything pt writes (the lake drops what it marks, plans and the
    journal mask it)."""
    if not argv:
        return []
    program_flags = _PROGRAM_SECRET_FLAGS.get(os.path.basename(argv[0]), frozenset())
    parts, pending = [], ""
    for arg in argv[1:]:
        if pending and not arg.startswith("-") and (pending == "always" or _CREDENTIALS.fullmatch(arg)):
            parts.append(ArgPart(None, False, "", arg, True))
            pending = ""
            continue
        part = _split(arg, program_flags)
        parts.append(part)
        pending = part.secret_next
    return parts


def mask_secrets(argv) -> list[str]:
    """``argv`` readable but without its secrets, for local files a person
    reads (plans, the action journal): every argument is kept as written
    except the secrets :func:`split_argv` finds, which become :data:`SECRET`
    (``--password=<secret>``, ``-p<secret>``). Nothing is hashed."""
    if not argv:
        return []
    program = argv[0]                  # a path to a program is shown, however random its directories
    out = [SECRET if looks_secret(program) and not program.startswith(("/", "./", "../")) else program]
    for arg, part in zip(argv[1:], split_argv(argv)):
        if part.name is not None and looks_secret(part.name):
            out.append(SECRET)
        elif not part.secret:
            out.append(arg)
        else:
            out.append(SECRET if part.name is None else f"{part.name}{part.sep}{SECRET}")
    return out


# --- the key -------------------------------------------------------------------------

def data_dir() -> Path:
    """``$XDG_DATA_HOME/pt`` or ``~/.local/share/pt``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "pt"


def key_path() -> Path:
    return Path(os.environ[KEY_ENV]) if os.environ.get(KEY_ENV) else data_dir() / "telemetry.key"


def key_id(key: bytes) -> str:
    """A public name for ``key``: a one-way digest, safe to store in ``runs``."""
    return hashlib.sha256(b"pt-telemetry-key-id\0" + key).hexdigest()[:16]


def load_key(path: str | os.PathLike | None = None, *, create: bool = True) -> bytes:
    """The per-install key, created (0600) on first use, read and written
    only through a verified private directory (:mod:`pt.safefs`).

    Creation writes a temporary file and publishes it with ``os.link``, which
    fails if the key exists: two processes racing on the first scan both end
    up using the one that won, and nobody ever reads a half-written key.
    """
    from pt import safefs

    path = Path(path) if path is not None else key_path()
    with safefs.private_dir(path.parent, create=create) as directory:
        try:
            key = directory.read_bytes(path.name)
        except FileNotFoundError:
            if not create:
                raise
            directory.create(path.name, secrets.token_bytes(KEY_BYTES))
            key = directory.read_bytes(path.name)
    if len(key) != KEY_BYTES:
        raise ValueError(f"telemetry key {path} is {len(key)} bytes, expected {KEY_BYTES}")
    return key


# --- hashing -------------------------------------------------------------------------

def _bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def kind_of(value: str) -> str:
    """The one-letter kind prefix of a hashed value: p(ath), u(rl/endpoint), h(other)."""
    if "://" in value or _ENDPOINT.fullmatch(value):
        return "u"
    if "/" in value or value.startswith("~"):
        return "p"
    return "h"


@dataclass(frozen=True)
class Redactor:
    """The policy bound to one key; every method is pure given the key, so
    hashes are memoised per instance (arguments repeat across processes)."""

    key: bytes
    version: str = POLICY_VERSION
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    @functools.cached_property
    def _base(self):
        """The HMAC state after the key; each digest copies it (saves the key schedule)."""
        return hmac.new(self.key, digestmod=hashlib.sha256)

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    def digest(self, value: str) -> str:
        """The bare keyed hash of ``value`` (hex, 64 bits)."""
        mac = self._base.copy()
        mac.update(_bytes(value))
        return mac.hexdigest()[:HASH_HEX]

    def hash(self, value: str) -> str:
        """``<kind>:<digest>``: the stored form of a sensitive value."""
        out = self._memo.get(value)
        if out is None:
            out = self._memo[value] = f"{kind_of(value)}:{self.digest(value)}"
        return out

    def value(self, value: str) -> str:
        """A free-standing value: dropped if it looks secret, hashed otherwise."""
        return SECRET if looks_secret(value) else self.hash(value)

    def token(self, value: str) -> str:
        """A value that is normally a safe token (a base name, comm): kept if it
        is one and does not look secret, hashed otherwise."""
        if _SAFE_TOKEN.fullmatch(value) and not looks_secret(value):
            return value
        return self.value(value)

    def argv(self, argv: tuple[str, ...] | list[str]) -> RedactedArgv:
        """Redact one argument vector (see the module docstring): what
        :func:`split_argv` marks secret is dropped, other values hashed."""
        if not argv:
            return RedactedArgv(None, (), (), 0, self.digest(""))
        out = [self.token(os.path.basename(argv[0]) or argv[0])]
        flags: list[str] = []
        dropped = 0
        for part in split_argv(tuple(argv)):
            redacted, flag = self._part(part)
            out.append(redacted)
            dropped += part.secret
            if flag is not None:
                flags.append(flag)
        cmd_hash = self.digest("\0".join(_unsecret(argv, out)))
        return RedactedArgv(out[0], tuple(out), tuple(flags), dropped, cmd_hash)

    def _part(self, part: ArgPart) -> tuple[str, str | None]:
        """One split argument as stored, and its flag name (None if not a flag);
        memoised, arguments repeat across processes."""
        hit = self._memo.get(part)
        if hit is not None:
            return hit
        value = None if part.value is None else SECRET if part.secret else self.hash(part.value)
        if part.name is None:
            out = (value, None)
        else:
            name = self.hash(part.name) if looks_secret(part.name) else part.name
            out = (name if value is None else f"{name}={value}", name if part.flag else None)
        self._memo[part] = out
        return out

    def text(self, text: str) -> str:
        """Free text (an outcome's detail, a parameter): words kept, paths and
        endpoints hashed, secrets dropped, and the word after a secret's name too."""
        out, drop_next = [], False
        for word in text.split():
            bare = word.strip("'\"(),;")
            name = bare.rstrip(":=")
            if drop_next or looks_secret(word):
                out.append(SECRET)
                drop_next = False
            elif kind_of(name) != "h":
                out.append(self.hash(word))
            elif _NAME.fullmatch(name) and secret_name(name) and bare[-1:] in (":", "="):
                out.append(word)
                drop_next = True
            elif "=" in bare and secret_name(bare.split("=", 1)[0]):
                out.append(bare.split("=", 1)[0] + "=" + SECRET)
            else:
                out.append(word)
        return " ".join(out)

    def environ(self, env: Mapping[str, str]) -> dict[str, str]:
        """Environment variables: names kept, secret values dropped, others hashed."""
        return {name: SECRET if secret_name(name) or looks_secret(value) else self.hash(value)
                for name, value in env.items()}

    # --- columns: one call per distinct value, never per row ---

    def column(self, values: np.ndarray, how: str) -> np.ndarray:
        """Redact an object column of strings (None stays None) with ``how`` in
        ``{"hash", "token", "value"}``, one call per distinct value."""
        values = np.asarray(values, dtype=object)
        unique, inverse = factorize(values)
        fn = getattr(self, how)
        redacted = np.empty(len(unique), dtype=object)
        redacted[:] = [None if v is None else fn(str(v)) for v in unique]
        return redacted[inverse]

    def argv_column(self, cmdlines: np.ndarray) -> tuple[np.ndarray, list[RedactedArgv | None]]:
        """Redact a column of argument vectors: ``(inverse, distinct)`` where row
        ``i`` is ``distinct[inverse[i]]`` (None for an unreadable cmdline), so
        Arrow columns can be built by one ``take`` each."""
        unique, inverse = factorize(np.asarray(cmdlines, dtype=object))
        return inverse, [None if argv is None else self._argv_memo(argv) for argv in unique]

    def _argv_memo(self, argv: tuple[str, ...]) -> RedactedArgv:
        key = ("argv", argv)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._memo[key] = self.argv(argv)
        return hit


_HASH = np.frompyfunc(hash, 1, 1)


def factorize(values: np.ndarray) -> tuple[list, np.ndarray]:
    """``(distinct values, int32 index of each row's value)`` of an object
    column of hashable values (str, tuples of str, None).

    Vectorised: the values' hashes are computed by a ufunc and uniqued as
    int64; each row is then checked equal to its representative (elementwise,
    in C), and a hash collision falls back to an exact sort.
    """
    if len(values) == 0:
        return [], np.zeros(0, dtype=np.int32)
    hashes = _HASH(values).astype(np.int64)
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    reps = values[first]
    if not np.all(np.equal(values, reps[inverse]) | (np.equal(values, None) & np.equal(reps[inverse], None))):
        keyed = np.array([(v is None, v if v is not None else ()) for v in values.tolist()], dtype=object)
        _, first, inverse = np.unique(keyed, return_index=True, return_inverse=True)
        reps = values[first]
    return reps.tolist(), inverse.astype(np.int32)


def _unsecret(argv, redacted) -> list[str]:
    """The argv with every dropped position replaced by :data:`SECRET` (for cmd_hash)."""
    return [red if red.endswith(SECRET) else arg for arg, red in zip(argv, redacted)]


@dataclass(frozen=True)
class RedactedArgv:
    """One redacted argument vector: the safe executable base name, every
    argument redacted in place, the flag names, how many values were dropped,
    and the keyed hash of the whole (secrets replaced first)."""

    exe: str | None
    args: tuple[str, ...]
    flags: tuple[str, ...]
    secrets_dropped: int
    cmd_hash: str


def redactor(key: bytes | None = None) -> Redactor:
    """The policy with the install key (created on first use)."""
    return Redactor(load_key() if key is None else key)
