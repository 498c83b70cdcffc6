"""Capture a procfs fixture tree for pt's parser tests.

Copies stat, status and cmdline of the chosen processes plus the host files
(/proc/stat, /proc/uptime, boot_id) into DEST, so the collector can be run on
it with PT_PROCFS_PATH=DEST. Review the captured command lines before
committing them: they are real.

    python tools/capture_procfs.py [--sampler] DEST [PID ...]   (default: every process)

--sampler also copies what the deep-scan sampler reads: io, schedstat, wchan
of each process, and loadavg, meminfo, pressure/{cpu,io,memory}.
"""
import os
import sys
from pathlib import Path

from pt.testing import capture_procfs


def main(argv: list[str]) -> int:
    sampler = bool(argv) and argv[0] == "--sampler"
    argv = argv[1:] if sampler else argv
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    pids = [int(p) for p in argv[1:]] or [int(n) for n in os.listdir("/proc") if n.isdigit()]
    capture_procfs(Path(argv[0]), pids, sampler=sampler)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
