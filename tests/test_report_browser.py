"""report.html opened in a real headless browser (Debian's chromium): every embedded plot decodes to an image with
pixels and every table renders with rows, from a copy of the file alone (no plots/ folder beside it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.report.build import build_report
from tests.test_report import write_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (.ci/run installs Debian's chromium)")

# Runs after the page has loaded: writes what the browser saw into the DOM, which --dump-dom then prints.
PROBE = """
<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(img => ({
    complete: img.complete, width: img.naturalWidth, height: img.naturalHeight, alt: img.alt}));
  const tables = [...document.querySelectorAll("table")].map(table => ({
    rows: table.rows.length, height: table.getBoundingClientRect().height}));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images, tables});
  document.body.appendChild(out);
});
</script>
"""


def _rendered(page: Path, tmp_path: Path) -> dict:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"chromium printed no probe (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_report_html_renders_alone_in_a_browser(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_run(run_dir)
    build_report(run_dir)
    alone = tmp_path / "mailed" / "report.html"
    alone.parent.mkdir()
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    alone.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")

    seen = _rendered(alone, tmp_path)

    n_plots = len(list((run_dir / "plots").glob("*.png")))
    assert len(seen["images"]) == n_plots > 0
    for image in seen["images"]:
        assert image["complete"] and image["width"] > 400 and image["height"] > 200, image
    assert len(seen["tables"]) >= 5  # accuracy, timing, reproduction, parity, status, ...
    for table in seen["tables"]:
        assert table["rows"] >= 2 and table["height"] > 0, table
