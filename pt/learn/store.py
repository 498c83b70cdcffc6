"""The learned priors file that ``pt calibrate`` writes and the model reads.

``$XDG_DATA_HOME/pt/learned-priors.json`` (or the file ``$PT_LEARNED_PRIORS``
names): private (a 0700 directory pt created or verified, a 0600 file,
replaced atomically, never followed if it is a link). It holds only the keys
calibration changed (``class_prior``, ``cpu_window.by_category``) plus a
``learned`` section saying when, from how many labels, and which generation
it is; :func:`pt.config.load_priors` merges it over the shipped priors and
under the user's own ``priors.json``. A file that cannot be read or does not
validate is ignored with a warning: pt then runs on the shipped priors.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pt import safefs

LEARNED_ENV = "PT_LEARNED_PRIORS"
FORMAT_VERSION = 1
#: Largest learned file read (it holds a few hundred numbers).
MAX_BYTES = 1 << 20
_warned: set[str] = set()


def learned_path() -> Path:
    if os.environ.get(LEARNED_ENV):
        return Path(os.environ[LEARNED_ENV]).expanduser()
    from pt.telemetry.redact import data_dir
    return data_dir() / "learned-priors.json"


def warn(message: str) -> None:
    """Say once per process on stderr (escaped) that the learned priors are not used."""
    if message not in _warned:
        _warned.add(message)
        from pt.ui.text import escape
        print(escape(f"pt: warning: {message}; using the shipped priors"), file=sys.stderr)


def read_learned(path: Path | None = None) -> tuple[dict, dict] | None:
    """(overlay, learned section) of the learned file, or None if there is
    none or it is unusable (then :func:`warn` says why)."""
    found, problem = load_learned(path)
    if problem:
        warn(problem)
    return found


def load_learned(path: Path | None = None) -> tuple[tuple[dict, dict] | None, str | None]:
    """((overlay, learned section) or None, why a file that exists is not
    usable, or None): "no file" and "a file pt cannot use" differ for the
    kill gate, which must not open because its file was damaged."""
    path = learned_path() if path is None else path
    try:
        with safefs.private_dir(path.parent, create=False) as d:
            if d.stat(path.name).st_size > MAX_BYTES:
                raise ValueError(f"larger than {MAX_BYTES} bytes")
            doc = json.loads(d.read_bytes(path.name))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"ignoring the learned priors {path}: {exc}"
    if not isinstance(doc, dict) or not isinstance(doc.get("learned"), dict) \
            or doc["learned"].get("format") != FORMAT_VERSION:
        return None, f"ignoring the learned priors {path}: not a pt learned priors file (format {FORMAT_VERSION})"
    learned = doc.pop("learned")
    return (doc, learned), None


def write_learned(overlay: dict, learned: dict, path: Path | None = None) -> Path:
    """Publish the learned priors atomically (0600 in a private directory)."""
    path = learned_path() if path is None else path
    doc = {"learned": {"format": FORMAT_VERSION, **learned}, **overlay}
    with safefs.private_dir(path.parent) as d:
        d.replace(path.name, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
    return path


def remove_learned(path: Path | None = None) -> bool:
    """Delete the learned priors (``pt calibrate --reset``); True if there were some."""
    path = learned_path() if path is None else path
    try:
        with safefs.private_dir(path.parent, create=False) as d:
            d.stat(path.name)
            d.unlink(path.name)
            return True
    except FileNotFoundError:
        return False
