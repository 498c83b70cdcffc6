"""Lake writes for ``pt watch``, in a short-lived child process.

pyarrow and the Parquet writer take ~75 MB that would otherwise stay in a
watcher's memory for its whole life after the first record. The watcher
pickles what to write (a quick scan's Triage, or journal records) into this
child's stdin; the child writes it and exits. The pipe is private between a
parent and its own child, so unpickling here trusts nothing from outside.
"""
from __future__ import annotations

import pickle
import subprocess
import sys


def start(payload: dict) -> subprocess.Popen:
    """Start the child and hand it ``payload``; returns without waiting."""
    child = subprocess.Popen([sys.executable, "-m", "pt.watch.record"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        child.stdin.write(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    except BrokenPipeError:
        pass
    finally:
        child.stdin.close()
    return child


def main() -> int:
    payload = pickle.loads(sys.stdin.buffer.read())
    if payload["kind"] == "scan":
        from pt.telemetry.writer import write_scan
        result = write_scan(payload["triage"], lake=payload["lake"], scan_s=payload["scan_s"])
    else:
        from pt.telemetry.writer import write_action_records
        result = write_action_records(payload["records"], lake=payload["lake"])
    if result is not None and not result.written:
        from pt.ui.text import escape
        print(escape(f"telemetry skipped: {result.reason} (lake {result.lake})"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
