"""The HTML report in a real browser (headless Chromium): every embedded figure decodes, and the first
screen (1280 x 800) holds the verdict. Skipped, saying why, where no Chromium is installed (`.ci/run`
installs the Debian package `chromium` where it can)."""

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from analysis.report import build_report

FIXTURE = Path(__file__).parent / "fixtures" / "run_small"
VIEWPORT = (1280, 800)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Runs in the page once everything has loaded; writes what it saw into the DOM for --dump-dom to print.
PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const verdict = document.querySelector("#verdict");
  const firstTable = verdict ? verdict.querySelector("table") : null;
  const out = {
    images: imgs.length,
    decoded: imgs.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0).length,
    firstHeading: (document.querySelector("main h2") || {}).textContent,
    verdictTop: verdict ? verdict.getBoundingClientRect().top : null,
    tableTop: firstTable ? firstTable.getBoundingClientRect().top : null,
    viewport: [window.innerWidth, window.innerHeight],
    tocLinks: document.querySelectorAll("nav a").length,
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "headless Chromium is not installed (Debian: apt-get install chromium); browser check not run"
    )


def _run(browser: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", *args]  # fmt: skip
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.skip("headless Chromium did not finish within 300 s on this machine")


def test_report_renders_in_chromium(tmp_path):
    browser = _browser()
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    payload = build_report(run_dir)
    html = (run_dir / "report.html").read_text()
    probe = run_dir / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"))

    dom = _run(browser, "--virtual-time-budget=20000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout)
    assert found, f"Chromium printed no probe result: {dom.stderr[-500:]}"
    seen = json.loads(found.group(1).replace("&quot;", '"'))
    assert seen["images"] == len(payload["figures"]) > 0
    assert seen["decoded"] == seen["images"]  # every embedded PNG decodes
    assert seen["firstHeading"] == "Verdict"
    # The page's viewport is the window less what the headless shell reserves (1280 x 713 here).
    width, screen = seen["viewport"]
    assert width == VIEWPORT[0] and screen > 600
    # The verdict starts on the first screen and so does its first table (cost).
    assert 0 <= seen["verdictTop"] < screen and seen["tableTop"] < screen
    assert seen["tocLinks"] >= 5

    shot = tmp_path / "first-screen.png"
    _run(browser, f"--screenshot={shot}", (run_dir / "report.html").as_uri())
    assert shot.exists(), "Chromium wrote no screenshot"
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])  # PNG IHDR
    assert (width, height) == VIEWPORT
