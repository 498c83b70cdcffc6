"""pt report: one self-contained HTML page, checked in a real headless
Chromium (Debian's ``chromium``): it loads without console messages, hostile
process names stay text, and a screenshot shows the table and the plots."""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest

from pt.report import CLASS_COLOR, calibration_svg, posterior_svg, regime_svg, waterfall_svg
from pt.testing import acting_env, renamed_sleeper, run_pt, sleepers

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE_ARGV0 = "<script>document.body.innerHTML='PWNED'</script><b>bold?</b>"


def rgb(color: str) -> list[int]:
    return [int(color[i:i + 2], 16) for i in (1, 3, 5)]


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", *args],
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def decode_png(data: bytes) -> np.ndarray:
    """The pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium
    writes), shape (height, width, channels): chunks, zlib, row filters."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
        elif kind == b"IDAT":
            idat.append(body)
    bpp = 3 if ctype == 2 else 4
    stride = w * bpp
    raw = zlib.decompress(b"".join(idat))
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(h):
        kind = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1)
        if kind == 0:
            out[y] = line
        elif kind == 1:                                       # Sub: running sum along the row
            out[y] = (np.cumsum(line.reshape(w, bpp), axis=0, dtype=np.uint64) % 256).ravel()
        elif kind == 2:                                       # Up
            out[y] = line + prev
        else:                                                 # Average, Paeth: byte by byte
            cur, up = bytearray(line.tobytes()), prev.tobytes()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = up[i]
                if kind == 3:
                    cur[i] = (cur[i] + ((a + b) >> 1)) & 255
                    continue
                c = up[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            out[y] = np.frombuffer(bytes(cur), np.uint8)
        prev = out[y]
    return out.reshape(h, w, bpp)[..., :3]


def count(pixels: np.ndarray, color: str) -> int:
    return int((pixels == rgb(color)).all(axis=2).sum())


def test_png_decoder_reads_every_row_filter():
    """The decoder against a PNG made here with each of the five filters."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    raw, prev = b"", np.zeros(12, dtype=np.int64)
    for y, kind in enumerate(range(5)):
        row = pixels[y].ravel().astype(np.int64)
        left = np.concatenate([[0, 0, 0], row[:-3]])
        upleft = np.concatenate([[0, 0, 0], prev[:-3]])
        p = left + prev - upleft
        paeth = np.where((abs(p - left) <= abs(p - prev)) & (abs(p - left) <= abs(p - upleft)), left,
                         np.where(abs(p - prev) <= abs(p - upleft), prev, upleft))
        predicted = [0, left, prev, (left + prev) // 2, paeth][kind]
        raw += bytes([kind]) + ((row - predicted) % 256).astype(np.uint8).tobytes()
        prev = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 5, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    assert (decode_png(png) == pixels).all()


def test_plots_draw_only_finite_numbers_and_escaped_text():
    """An impossible evidence item (infinite bits), a deep-scan row with no
    samples: every coordinate is still a number."""
    svg = waterfall_svg(-2.5, [("state: Z <x>", math.inf), ("cpu", -math.inf), ("gone", math.nan)], math.inf)
    empty = regime_svg({"samples": 0, "interval_s": None, "cpu_ticks": None, "elapsed_ticks": 0,
                        "change_at_s": math.nan, "p_change": None, "share_before": None, "share_after": None})
    for drawn in (svg, empty, posterior_svg({"useful": 1.0}, None),
                  calibration_svg([{"n": 3, "predicted": 0.9, "observed": 1.0}])):
        assert not re.search(r"inf|nan", drawn, re.I), drawn
    assert "state: Z &lt;x&gt;" in svg


def test_report_writes_a_page_and_says_when_the_lake_has_no_deep_scan(tmp_path):
    with sleepers(1) as (proc,):
        out = run_pt("report", "--pid", str(proc.pid), "--html", "r.html", "--json", cwd=tmp_path)
    result = json.loads(out.stdout)
    assert result["status"] == "ok" and result["data"]["processes"] == 1
    assert "No deep scan in the telemetry lake" in result["data"]["notes"][0]
    page = (tmp_path / "r.html").read_text()
    assert "No deep scan in the telemetry lake" in page and f'id="pid-{proc.pid}"' in page
    assert "No action outcomes in the telemetry lake yet" in page
    assert os.stat(tmp_path / "r.html").st_mode & 0o077 == 0
    # No network: nothing is fetched from anywhere, and no script.
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)|@import|url\(|<script""", page, re.I)

    none = run_pt("report", "--pid", "4194303", "--html", "none.html", cwd=tmp_path, check=False)
    assert none.returncode == 0 and "No process matches" in (tmp_path / "none.html").read_text()
    os.symlink(tmp_path / "elsewhere", tmp_path / "link.html")
    refused = run_pt("report", "--html", "link.html", "--json", cwd=tmp_path, check=False)
    assert refused.returncode == 1 and json.loads(refused.stdout)["errors"][0]["code"] == "os_error"
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium; "
                                             ".ci/run installs it when run as root)")
def test_report_in_a_headless_browser(tmp_path):
    env = acting_env(tmp_path)
    with sleepers(1, argv0=HOSTILE_ARGV0) as (hostile,), renamed_sleeper(tmp_path, "<script>x") as named:
        pids = [str(hostile.pid), str(named.pid)]
        run_pt("deep-scan", *(a for p in pids for a in ("--pid", p)), "--max-time", "2", "--interval", "0.1",
               cwd=tmp_path, env=env)
        planned = json.loads(run_pt("plan", "--pid", pids[1], "--do", "pause", "--json", cwd=tmp_path,
                                    env=env).stdout)
        run_pt("apply", planned["data"]["plan"]["plan_id"], "--yes", cwd=tmp_path, env=env)   # an outcome
        run_pt("report", *(a for p in pids for a in ("--pid", p)), "--html", "report.html", cwd=tmp_path, env=env)
    page = tmp_path / "report.html"
    html = page.read_text()
    assert "&lt;script&gt;document.body.innerHTML=&#x27;PWNED&#x27;&lt;/script&gt;" in html
    assert "(&lt;script&gt;x)" in html and 'aria-label="deep scan series"' in html
    assert 'aria-label="calibration"' in html and "No action outcomes" not in html

    loaded = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
    assert loaded.returncode == 0, loaded.stderr
    assert ":CONSOLE" not in loaded.stderr, loaded.stderr        # no errors, no CSP refusals, nothing
    dom = loaded.stdout
    assert "<table" in dom and "<svg" in dom and "<script" not in dom.lower() and "<b>" not in dom
    assert dom.count("PWNED") == html.count("PWNED") >= 2        # shown as text; never ran

    shot = tmp_path / "report.png"
    taken = chromium(tmp_path, "--window-size=1280,2000", f"--screenshot={shot}", page.as_uri())
    assert taken.returncode == 0 and shot.exists(), taken.stderr
    pixels = decode_png(shot.read_bytes())
    assert (pixels != 255).any(axis=2).mean() > 0.02              # not blank
    assert count(pixels[:400], "#f3f3f3") > 1000                  # the table's header row, near the top
    assert count(pixels, "#1f77b4") > 200                         # the waterfall's posterior bar
    assert count(pixels, CLASS_COLOR["useful"]) + count(pixels, CLASS_COLOR["abandoned"]) > 200
