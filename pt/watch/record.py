"""Lake writes for ``pt watch``, in a short-lived child process.

pyarrow and the Parquet writer take ~75 MB that would otherwise stay in a
watcher's memory for its whole life after the first record. The watcher
pickles what to write (a quick scan's Triage, or journal records) into a
file of its private state directory and starts this module on it; the child
writes the lake, removes the file and exits. Only a file in pt's own 0700
directory, named by its parent, is ever unpickled here. The child runs from
``/`` with ``-P`` (no script directory on sys.path), so nothing in the
watcher's working directory can shadow pt or its dependencies.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import uuid

from pt import safefs

#: How long a watcher waits for its lake writers when it stops.
STOP_WAIT_S = 30.0


def start(payload: dict, directory: safefs.Dir) -> subprocess.Popen:
    """Hand ``payload`` to a new child through a private file; returns at once."""
    name = f"record-{uuid.uuid4().hex}.pickle"
    directory.create(name, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    return subprocess.Popen([sys.executable, "-P", "-m", "pt.watch.record", str(directory.path / name)],
                            cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main(path: str) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        with os.fdopen(fd, "rb") as f:
            payload = pickle.load(f)
    finally:
        os.unlink(path)
    if payload["kind"] == "scan":
        from pt.telemetry.writer import write_scan
        # follow=True: a watcher's recorded scans follow earlier verdicts up
        # (pt.telemetry.followup) as pt scan's do, so its shadow record grows.
        result = write_scan(payload["triage"], lake=payload["lake"], scan_s=payload["scan_s"], follow=True)
    else:
        from pt.telemetry.writer import write_action_records
        result = write_action_records(payload["records"], lake=payload["lake"])
    if result is not None and not result.written:
        from pt.ui.text import escape
        print(escape(f"telemetry skipped: {result.reason} (lake {result.lake})"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
