"""The HTML report in a real headless browser: it loads, and every plot decodes and shows."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pagealloc.commands.run import run_scenario
from pagealloc.workload.scenario import loads_scenario

SCENARIO = """\
[scenario]
name = "browser"
duration = "2s"
seed = 2

[machine]
mem = "128M"
cpus = 2

[report]
sample_every = "500ms"
memmap_at = ["0s", "1s", "end"]

[probe]
every = "250ms"

[[phase]]
name = "p"

[[phase.actor]]
kind = "page_cache"
rate = "64M/s"
files = 20

[[phase.actor]]
kind = "anon"
procs = 1
size = "32M"

[[phase.actor]]
kind = "net"
burst_rate = "20/s"
"""

# Appended to a copy of the report: once everything has loaded, write what each <img>
# decoded to into the DOM, where --dump-dom shows it.
CHECK = """
<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var res = imgs.map(function (i) {
    return {alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight,
            data: i.src.slice(0, 22) === 'data:image/png;base64,'};
  });
  var pre = document.createElement('pre');
  pre.id = 'imgcheck';
  pre.textContent = JSON.stringify({title: document.title, n: imgs.length, imgs: res,
                                    external: document.querySelectorAll(
                                      'link[rel=stylesheet],script[src]').length});
  document.body.appendChild(pre);
});
</script>
"""


def _chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser-report")
    run_scenario(loads_scenario(SCENARIO, "browser.toml"), out, progress=False)
    return out / "report.html"


def test_report_is_self_contained(report):
    text = report.read_text()
    # no http(s) or file references: every image is inline
    assert not re.search(r"""(src|href)=["'](?!data:)""", text)
    assert text.count('src="data:image/png;base64,') == 6 + 3


def test_report_renders_in_headless_chromium(report, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium; "
                    ".ci/run installs it when it can)")
    page = tmp_path / "report-checked.html"
    page.write_text(report.read_text().replace("</body>", CHECK + "</body>"))
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
           "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("chromium did not finish within 120 s")
    m = re.search(r'<pre id="imgcheck">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"the check did not run (exit {proc.returncode}): {proc.stderr[-2000:]}"
    import html
    res = json.loads(html.unescape(m.group(1)))
    assert res["title"].startswith("pagealloc run: browser")
    assert res["external"] == 0
    assert res["n"] == 9
    for img in res["imgs"]:
        assert img["data"] and img["complete"], img
        assert img["w"] > 300 and img["h"] > 100, img
