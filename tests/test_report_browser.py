"""quanta report in a real browser: headless Chromium runs the page's script, we read back the DOM.

These tests need Chromium. On Debian/Ubuntu: ``apt-get update && apt-get install -y chromium``
(or point ``QUANTA_CHROMIUM`` at a Chromium/Chrome binary). Without it they fail and say so.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_report import make_runs, parse, rows_of

from quanta.report import Options, build_report
from quanta.report import html as H
from quanta.store import Run

INSTALL = "apt-get update && apt-get install -y chromium"
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    """``QUANTA_CHROMIUM`` if set, else the first Chromium/Chrome on PATH, else None."""
    env = os.environ.get("QUANTA_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    return next((p for p in map(shutil.which, NAMES) if p), None)


def require_chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.fail(f"headless Chromium is needed to test the HTML report but was not found: install it with "
                    f"`{INSTALL}` (Debian/Ubuntu), or set QUANTA_CHROMIUM to a Chromium or Chrome binary",
                    pytrace=False)
    return path


@pytest.fixture(scope="module")
def chromium():
    return require_chromium()


def run_chromium(chromium: str, url: str, workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run headless Chromium once on ``url`` with a fresh profile; the console goes to stderr."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir)
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", *extra, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"chromium exited with {proc.returncode}: {proc.stderr[-2000:]}"
    return proc


def console_lines(stderr: str) -> list[str]:
    """The page's console messages (the report's script logs nothing, so any is a problem)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


MIXED = [10.0, 9.0, -3.5, float("nan"), 1e-5, 2.5e3, -10.0, 2e-7, 0.5]  # numeric, not lexicographic, missing last


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    runs = make_runs(root / "runs")
    with Run.create(root / "runs" / "mixed", command="demo", config={}, argv=["quanta"]) as r:
        r.write_table("mixed", pd.DataFrame({"name": [f"n{i}" for i in range(len(MIXED))], "value": MIXED}))
        r.finish({})
    runs["mixed"] = root / "runs" / "mixed"
    path = build_report(list(runs.values()), root / "report.html", options=Options(max_rows=100, max_contexts=5))
    return path, parse(path.read_text())


def _table_id(dom, suffix: str) -> str:
    return next(t.attrs["id"] for t in dom.find_all("table") if t.attrs.get("id", "").endswith(suffix))


def test_chromium_runs_the_page_without_errors_and_sorts(chromium, report, tmp_path):
    path, static = report
    models = _table_id(static, "-parity-run-t-models")
    mixed = _table_id(static, "-t-mixed")
    head = [th.text() for th in static.by_id(models).find_all("th")]
    col_final = head.index("final_loss")
    # (specs naming no table or no column, or not even decodable, are ignored without an error)
    specs = [f"{models}:{col_final}:asc", f"{mixed}:1:desc", "overview-table:1:asc", "nope:1:asc", f"{mixed}:9:asc",
             "%E0%A4%A"]
    url = f"{path.as_uri()}#sort={','.join(specs)}"
    proc = run_chromium(chromium, url, tmp_path, "--dump-dom")
    assert console_lines(proc.stderr) == []
    dom = parse(proc.stdout)
    html = dom.find_all("html")[0]
    assert html.attrs.get("data-report-ready") == "1"
    assert "data-js-errors" not in html.attrs and "hidden" in dom.by_id("js-errors").attrs
    # every sortable table was wired up
    n_sortable = len(static.find_all("table", cls="sortable"))
    ready = [t for t in dom.find_all("table", cls="sortable") if t.attrs.get("data-sortable") == "ready"]
    assert n_sortable > 5 and len(ready) == n_sortable
    # sorted by the address: numerically, missing values last, string columns by text
    t = dom.by_id(models)
    assert [r[col_final] for r in rows_of(t)] == ["0.2", "0.3", "0.5"]
    assert t.attrs["data-sort-dir"] == "asc" and t.find_all("th")[col_final].attrs["aria-sort"] == "ascending"
    got = [r[1] for r in rows_of(dom.by_id(mixed))]
    want = [H.fmt_value(v) for v in sorted((v for v in MIXED if v == v), reverse=True)] + [H.MISSING]
    assert got == want
    commands = [r[1] for r in rows_of(dom.by_id("overview-table"))]
    assert commands == sorted(commands) and commands != [r[1] for r in rows_of(static.by_id("overview-table"))]
    # the cluster browser shows the run's own cluster count (6) and hides the other
    browser = dom.find_all("div", cls="browser")[0]
    assert browser.attrs["data-browser"] == "ready" and browser.attrs["data-shown"] == "6"
    groups = {g.attrs["data-k"]: g for g in browser.find_all("div", cls="k-group")}
    assert "hidden" in groups["4"].attrs and "hidden" not in groups["6"].attrs
    assert browser.find_all("span", cls="shown-count")[0].text() == "6"


def test_screenshot_is_a_non_empty_png(chromium, report, tmp_path):
    path, _ = report
    shot = tmp_path / "report.png"
    proc = run_chromium(chromium, path.as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1280,2000",
                        "--hide-scrollbars")
    assert console_lines(proc.stderr) == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (1280, 2000)
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("L"))
    # a rendered page: mostly white, with text and figures (not a blank or an error page)
    assert (img < 128).mean() > 0.005 and len(np.unique(img)) > 50


def test_script_errors_are_caught_and_shown(chromium, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(H.page("broken", "<p>x</p><script>notDefinedAnywhere();</script>", generated="now"))
    proc = run_chromium(chromium, page.as_uri(), tmp_path, "--dump-dom")
    dom = parse(proc.stdout)
    assert dom.find_all("html")[0].attrs.get("data-js-errors") == "1"
    box = dom.by_id("js-errors")
    assert "hidden" not in box.attrs and "notDefinedAnywhere" in box.text()
    assert any("notDefinedAnywhere" in line for line in console_lines(proc.stderr))


def test_missing_chromium_fails_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("QUANTA_CHROMIUM", raising=False)
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        require_chromium()
    monkeypatch.setenv("QUANTA_CHROMIUM", str(tmp_path / "no-such-binary"))
    assert find_chromium() is None


# Measures the laid-out page and writes what it finds into the DOM, for --dump-dom to read back.
MEASURE_JS = """<script>
(function(){var de=document.documentElement, vw=de.clientWidth, out=[];
if(de.scrollWidth>vw+1){out.push('page '+de.scrollWidth+' > '+vw);}
document.querySelectorAll('table').forEach(function(t){var r=t.getBoundingClientRect(), w=t.parentElement.clientWidth;
 if(r.right>vw+1||r.width>w+1){out.push('table '+t.id+' '+Math.round(r.width)+' in '+w);}});
document.querySelectorAll('img').forEach(function(e){var r=e.getBoundingClientRect();
 if(r.right>vw+1){out.push('img '+e.alt+' '+Math.round(r.right));}});
var p=document.createElement('pre');p.id='layout-defects';p.setAttribute('data-n',String(out.length));
p.textContent=out.join('\\n');document.body.appendChild(p);})();
</script></body>"""


def layout_defects(chromium: str, html: str, workdir: Path, width: int = 1280) -> list[str]:
    """What sticks out of a page ``width`` pixels wide: the page scrolling sideways, tables wider than the
    column they sit in, images beyond the edge."""
    page = workdir / "measured.html"
    page.write_text(html.replace("</body>", MEASURE_JS))
    proc = run_chromium(chromium, page.as_uri(), workdir, "--dump-dom", f"--window-size={width},2000")
    pre = parse(proc.stdout).by_id("layout-defects")
    assert pre is not None, "the measuring script did not run"
    return [line for line in pre.text().split("\n") if line]


def test_tables_fit_the_page(chromium, report, tmp_path):
    path, static = report
    wide = next(t for t in static.find_all("table") if t.attrs.get("id", "").endswith("-parity-run-t-fits"))
    assert "wide" in wide.attrs["class"].split()
    assert layout_defects(chromium, path.read_text(), tmp_path) == []


def test_layout_check_catches_a_table_wider_than_the_page(chromium, tmp_path):
    df = pd.DataFrame({f"column_without_breaks_{i}": ["averyveryverylongvaluewithoutanyspaces" * 2] for i in range(12)})
    body = H.table(df, table_id="t").replace(' wide"', '"')  # as tables were set before: not compact
    html = H.page("wide", body, generated="now")
    assert any(d.startswith("table t ") for d in layout_defects(chromium, html, tmp_path))
