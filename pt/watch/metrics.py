"""Prometheus text-format metrics of a watcher (for node_exporter's textfile collector)."""
from __future__ import annotations

import math
import os
import tempfile

from pt.watch.modes import MODES


def _labels(**labels) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    return "{" + body + "}"


def _escape(value: str) -> str:
    """A label value as the text format wants it: backslash, newline and quote
    escaped, and valid UTF-8 (an undecodable byte of a cgroup's name, held as
    a surrogate, shown as ``\\xff`` as pt shows process names)."""
    try:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:                       # a surrogate no file name holds
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(x) -> str:
    if x is None:
        return "NaN"
    if isinstance(x, (bool, int)):
        return str(int(x))
    x = float(x)
    return "NaN" if math.isnan(x) else ("+Inf" if x == math.inf else repr(x))


def render(status: dict) -> str:
    """The metrics of one status (``Watcher.status()``) in the text exposition format."""
    out: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[dict, object]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{_labels(**labels)} {_number(v)}" for labels, v in samples)

    last = status.get("last") or {}
    metric("pt_watch_scans_total", "counter", "Quick scans done by this watcher.",
           [({}, status["totals"]["scans"])])
    metric("pt_watch_scan_duration_seconds", "gauge", "Duration of the last quick scan.",
           [({}, last.get("scan_s"))])
    metric("pt_watch_processes", "gauge", "Processes by most probable class at the last scan.",
           [({"class": c}, n) for c, n in (last.get("by_class") or {}).items()])
    metric("pt_watch_recommended", "gauge", "Processes for which the last scan recommends each action.",
           [({"action": a}, n) for a, n in (last.get("recommended") or {}).items()])
    metric("pt_watch_actions_total", "counter", "Actions this watcher carried out, by action.",
           [({"action": a}, n) for a, n in sorted(status["totals"]["acted"].items())])
    metric("pt_watch_action_failures_total", "counter", "Actions that failed.",
           [({}, status["totals"]["failed"])])
    metric("pt_watch_mode", "gauge", "1 for the mode in force.",
           [({"mode": m}, int(m == status["mode"])) for m in MODES])
    g = status["guardrail"]
    metric("pt_watch_guardrail_evalue", "gauge", "E-value of the calibration guardrail (alarm at the threshold).",
           [({}, g["value"])])
    metric("pt_watch_guardrail_threshold", "gauge", "Alarm threshold of the guardrail (1/alpha).",
           [({}, g["threshold"])])
    fg = status.get("forecast_guardrail") or {}
    metric("pt_watch_forecast_guardrail_evalue", "gauge",
           "E-value of the memory forecast's calibration guardrail (alarm at the threshold).", [({}, fg.get("value"))])
    metric("pt_watch_forecast_guardrail_threshold", "gauge", "Alarm threshold of the forecast guardrail.",
           [({}, fg.get("threshold"))])
    cpu = last.get("contention") or {}
    metric("pt_watch_cpu_offered_load", "gauge", "CPUs of demand (run + runnable wait) in the last scan window.",
           [({}, cpu.get("offered_load"))])
    metric("pt_watch_cpu_wait_probability", "gauge", "Erlang C: probability that CPU work waits (M/M/c).",
           [({}, cpu.get("p_wait"))])
    metric("pt_watch_urgency", "gauge", "Pressure urgency in [0, 1].", [({}, status["urgency"])])
    f = status["forecast"]
    metric("pt_watch_memory_seconds_to_floor", "gauge",
           "Forecast seconds until MemAvailable reaches the floor (NaN when unreliable or not heading there).",
           [({}, f["seconds_to_floor"])])
    groups = status.get("cgroups") or []
    metric("pt_watch_cgroup_memory_available_bytes", "gauge",
           "Headroom of each cgroup with a memory limit: limit - usage + inactive file cache.",
           [({"cgroup": g["path"]}, g["available_bytes"]) for g in groups])
    metric("pt_watch_cgroup_memory_seconds_to_floor", "gauge",
           "Forecast seconds until a limited cgroup's headroom reaches its floor (NaN when unreliable or not heading there).",
           [({"cgroup": g["path"]}, g["forecast"]["seconds_to_floor"]) for g in groups])
    p = status.get("pressure") or {}
    metric("pt_watch_pressure_avg10_percent", "gauge", "PSI avg10 by resource and kind.",
           [({"resource": r, "kind": k}, v) for r, kinds in (p.get("psi") or {}).items() for k, v in kinds.items()])
    return "\n".join(out) + "\n"


def write(path: str, status: dict) -> None:
    """Write the metrics to ``path`` atomically (temporary file + rename in
    the same directory), so the collector never reads half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".pt-watch-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(render(status))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class Server:
    """``GET /metrics`` on 127.0.0.1:``port`` (0: any free port), serving the
    latest status given to :meth:`update`; runs on a daemon thread."""

    def __init__(self, port: int):
        import http.server
        import threading

        self._body = b"# no scan yet\n"
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics is served")
                    return
                body = server._body
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):          # the watcher's output is its own
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="pt-watch-metrics", daemon=True)
        self.thread.start()

    def update(self, status: dict) -> None:
        self._body = render(status).encode()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
