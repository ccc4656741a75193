"""The HTML report, loaded in a real headless browser (Debian's chromium).

The page is judged by the DOM chromium renders (`--dump-dom`): the grid's cells, the
failed-only and host filters, a cell's details, and that hostile output stays text. The filters
are also driven as a user does (mouse clicks, key presses through the DevTools protocol over
`--remote-debugging-pipe`: cdp_pipe.py), with the metadata and recap the page drew. A
screenshot is kept under the test's tmp dir as the artefact, and the render time of a
500 hosts x 20 steps report is printed (no assertion: timing depends on the machine).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from runbook.engine.results import RunOutcome
from runbook.report.html import build_html_report, embed_json, render_html_report
from runbook.report.json_report import build_json_report
from tests.engine.fakes import fake_lab, run, runbook, step
from tests.report.cdp_pipe import CdpPage
from tests.sshlab import running_in_ci

# one word (the fake host splits commands on spaces), no single quote (it sits in a template)
HOSTILE = '<script>document.title="pwned"</script><img/src=x/onerror=document.title="img">'
INSTALL_HINT = "chromium is not installed; run scripts/install-test-deps.sh (apt-get install chromium)"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if running_in_ci():
        pytest.fail(f"CI is set but {INSTALL_HINT}", pytrace=False)
    pytest.skip(INSTALL_HINT)


def _browser(*args: str, url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run headless chromium once on `url` (its own profile; no network is needed or used)."""
    argv = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--disable-background-networking",
            f"--user-data-dir={tmp_path / 'chromium-profile'}", *args, url]
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=90)


def render_dom(page: Path, tmp_path: Path, query: str = "") -> str:
    """The DOM after the page's script ran (`?query` pre-sets filters)."""
    proc = _browser("--dump-dom", url=page.as_uri() + query, tmp_path=tmp_path)
    assert proc.returncode == 0 and 'data-ready="1"' in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


class _Dom(HTMLParser):
    """Collects the grid rows (host -> hidden?, cells) and the detail pane's texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, Any]] = {}
        self.body: dict[str, str | None] = {}
        self.title = ""
        self.texts: dict[str, str] = {}
        self._row: dict[str, Any] | None = None
        self._capture: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "tr" and a.get("data-host") is not None:
            self._row = {"hidden": "hidden" in a, "failed": a.get("data-failed") == "1",
                         "cells": [], "site": a.get("data-site")}
            self.rows[a["data-host"] or ""] = self._row
        elif tag == "td" and self._row is not None and "cell" in (a.get("class") or ""):
            self._row["cells"].append((a.get("data-status"), a.get("class")))
        elif tag == "td" and self._row is not None and a.get("class") == "host":
            self._row["title"] = a.get("title")
            self._capture = f"host-{len(self.rows)}"
            self.texts[self._capture] = ""
        elif tag in ("title", "pre", "h2") or (tag == "dl" and a.get("id") == "detail-meta"):
            self._capture = a.get("id") or tag
            self.texts.setdefault(self._capture, "")
        if tag == "section" and a.get("id") == "detail":
            self.texts["detail-hidden"] = "1" if "hidden" in a else ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
        if tag in ("title", "pre", "h2", "dl", "td"):
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self.texts[self._capture] += data


def parse(dom: str) -> _Dom:
    parsed = _Dom()
    parsed.feed(dom)
    return parsed


@pytest.fixture(scope="module")
def outcome() -> RunOutcome:
    book = runbook(
        step(0, "hello", "echo:hello"),
        step(1, "fails on f02", "{{ 'rc:1' if host.id == 'f02' else 'echo:" + HOSTILE + "' }}"),
        step(2, "ignored", "rc:5", hosts=("f01",), ignore_errors=True),
        step(3, "after", "echo:x"),
    )
    return run(book, fake_lab(4, unreachable=["f04"]))


@pytest.fixture
def page(outcome: RunOutcome, tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(build_html_report(outcome))
    return path


def test_page_is_self_contained_and_hostile_text_stays_inert(page: Path) -> None:
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "<link" not in text and "@import" not in text
    # the embedded data can hold no tag: a `</script>` in output cannot close the block
    data = text.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and ">" not in data
    assert json.loads(data)["steps"][1]["results"]["f01"]["output"] == HOSTILE + "\n"


def test_embed_json_escapes_script_breakers() -> None:
    text = embed_json({"x": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"x": "</script><!-- & \u2028"}


@pytest.mark.parametrize("data", [[], {}, {"a": []}, [1, {"b": [{}]}], "</s>",
                                  {"k": {"x": {"y": {"z": {"w": [1, "<"]}}}}}])
def test_embed_json_is_the_compact_json_of_its_data(data: Any) -> None:
    # written in pieces (a result at a time), the text is the one-shot encoding
    assert json.loads(embed_json(data)) == data
    compact = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    assert embed_json(data) == compact.replace("<", "\\u003c").replace(">", "\\u003e")


def test_page_of_a_big_report_in_pieces_is_the_whole_page() -> None:
    report = _big_report(50, 3)
    page = render_html_report(report)
    data = page.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data) == report
    assert data == json.dumps(report, ensure_ascii=False, separators=(",", ":"))


def test_grid_cells_in_browser(page: Path, tmp_path: Path) -> None:
    dom = parse(render_dom(page, tmp_path))
    assert list(dom.rows) == ["f01", "f02", "f03", "f04"]
    assert [s for s, _ in dom.rows["f01"]["cells"]] == ["success", "success", "failed", "success"]
    assert "s-ignored" in dom.rows["f01"]["cells"][2][1]
    assert [s for s, _ in dom.rows["f02"]["cells"]] == ["success", "failed", None, "skipped"]
    assert "s-failed" in dom.rows["f02"]["cells"][1][1]
    assert dom.rows["f04"]["cells"][0][0] == "unreachable"
    assert not any(r["hidden"] for r in dom.rows.values())
    assert dom.body["data-visible-hosts"] == "4"
    assert dom.texts.get("title", "").startswith("runbook: ")  # no injected script ran


def test_failed_only_and_host_search_filters(page: Path, tmp_path: Path) -> None:
    dom = parse(render_dom(page, tmp_path, "?failed=1"))
    # f01's failure is ignored and f03 succeeded: only f02 (failed) and f04 (unreachable)
    assert {h for h, r in dom.rows.items() if not r["hidden"]} == {"f02", "f04"}
    assert dom.body["data-visible-hosts"] == "2"
    dom = parse(render_dom(page, tmp_path, "?host=F0"))
    assert not any(r["hidden"] for r in dom.rows.values())
    dom = parse(render_dom(page, tmp_path, "?failed=1&host=4"))
    assert {h for h, r in dom.rows.items() if not r["hidden"]} == {"f04"}


@pytest.fixture
def browser_page(page: Path, tmp_path: Path) -> Iterator[CdpPage]:
    """The report open in headless chromium, driven over the DevTools pipe (cdp_pipe.py)."""
    driven = CdpPage(_chromium(), ["--no-sandbox", "--disable-gpu", "--no-first-run",
                                   "--disable-extensions", "--disable-background-networking",
                                   "--window-size=1280,800"], tmp_path / "cdp-profile")
    try:
        driven.open(page.as_uri())
        yield driven
    finally:
        driven.close()


def _visible(driven: CdpPage) -> set[str]:
    return {h for h, r in parse(driven.dom()).rows.items() if not r["hidden"]}


def test_clicking_failed_only_and_typing_a_host_filter_the_grid(
        browser_page: CdpPage, outcome: RunOutcome) -> None:
    """A user's interaction (mouse clicks, key presses), not URL parameters; then the run's
    metadata and recap as the page drew them."""
    driven = browser_page
    assert _visible(driven) == {"f01", "f02", "f03", "f04"}
    driven.click("#failed-only")
    driven.wait_for("document.body.dataset.visibleHosts === '2'")
    assert driven.evaluate("document.getElementById('failed-only').checked") is True
    assert _visible(driven) == {"f02", "f04"}  # f01's failure was ignored
    driven.click("#host-search")
    driven.type_text("F04")
    driven.wait_for("document.body.dataset.visibleHosts === '1'")
    assert driven.evaluate("document.getElementById('host-search').value") == "F04"
    assert _visible(driven) == {"f04"}
    assert driven.evaluate("document.getElementById('shown').textContent") == \
        "showing 1 of 4 hosts"
    driven.click("#failed-only")  # off again: the search alone still holds
    driven.wait_for("!document.getElementById('failed-only').checked")
    assert _visible(driven) == {"f04"}

    report = build_json_report(outcome)
    meta = dict(driven.evaluate(
        "Array.from(document.querySelectorAll('#meta dt'))"
        ".map(dt => [dt.textContent, dt.nextElementSibling.textContent])"))
    # an outcome that was not recorded has no run id: no `run` line
    assert list(meta) == ["runbook file", "lab", "started", "ended", "duration"]
    assert meta["runbook file"] == report["runbook_path"] == "book.yml"
    assert meta["lab"] == "(local host only)"
    assert meta["started"].startswith(time.strftime("%Y-%m-%dT%H:%M:",
                                                    time.gmtime(report["started"])))
    assert meta["duration"] == f"{report['duration_s']:.2f} s"
    recap = driven.evaluate(
        "Array.from(document.querySelectorAll('#recap tbody tr'))"
        ".map(tr => Array.from(tr.cells).map(td => td.textContent))")
    counts = ("success", "failed", "error", "skipped", "unreachable")
    assert recap == [[h, *(str(report["hosts"][h][k]) for k in counts)]
                     for h in ("f01", "f02", "f03", "f04")]
    assert recap[3][5] == "1"  # f04 unreachable in the one step it got


def test_cell_opens_command_and_output_as_text(page: Path, tmp_path: Path) -> None:
    dom = parse(render_dom(page, tmp_path, "?cell=f01|2"))
    assert dom.texts["detail-hidden"] == ""
    assert dom.texts["detail-title"] == "f01 / 2. fails on f02"
    assert dom.texts["detail-output"] == HOSTILE + "\n"  # shown as text, not markup
    assert dom.texts["detail-command"] == "run: echo:" + HOSTILE
    assert "pwned" not in dom.texts.get("title", "") and "img" not in dom.texts.get("title", "")
    dom = parse(render_dom(page, tmp_path, "?cell=f02|3"))  # f02 was not targeted by step 3
    assert dom.texts["detail-hidden"] == "1"


def test_a_site_host_shows_its_site_in_the_grid_and_the_details(
        outcome: RunOutcome, tmp_path: Path) -> None:
    page = tmp_path / "sites.html"
    page.write_text(render_html_report({**build_json_report(outcome), "sites": {"f02": "east"}}))
    dom = parse(render_dom(page, tmp_path, "?cell=f02|1"))
    assert {h: r["site"] for h, r in dom.rows.items()} == {
        "f01": None, "f02": "east", "f03": None, "f04": None}
    assert dom.rows["f02"]["title"] == "f02: driven by the worker of site east"
    assert dom.texts["host-2"] == "f02east"  # the id, then the site's label
    assert "siteeast" in dom.texts["detail-meta"], dom.texts["detail-meta"]
    dom = parse(render_dom(page, tmp_path, "?cell=f01|1"))  # a host without a site: no row
    assert "site" not in dom.texts["detail-meta"], dom.texts["detail-meta"]


def test_screenshot_artefact(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    proc = _browser(f"--screenshot={shot}", "--window-size=1280,800",
                    url=page.as_uri() + "?cell=f02|2", tmp_path=tmp_path)
    assert proc.returncode == 0 and shot.stat().st_size > 1000, proc.stderr[-2000:]
    print(f"\nHTML report screenshot: {shot}")


def _big_report(n_hosts: int, n_steps: int) -> dict[str, Any]:
    """A synthetic report of the JSON schema's shape (a real run would take minutes)."""
    hosts = [f"host{i:03d}" for i in range(n_hosts)]
    steps = []
    for s in range(n_steps):
        results = {}
        for i, h in enumerate(hosts):
            bad = (i * 7 + s) % 53 == 0
            results[h] = {"status": "failed" if bad else "success", "rc": 1 if bad else 0,
                          "output": f"step {s} on {h}\n" * 5, "started": 1.0e9 + s,
                          "ended": 1.0e9 + s + 0.5, "command": f"run: do-thing --step {s}"}
        steps.append({"index": s, "name": f"step {s}", "action": "run", "location": "x.yml:1:1",
                      "started": 1.0e9 + s, "ended": 1.0e9 + s + 1, "results": results})
    fake = RunOutcome("big", "big.yml", None, hosts, [], 1.0e9, 1.0e9 + n_steps)
    report = build_json_report(fake)
    report["steps"] = steps
    return report


def test_render_time_500_hosts_by_20_steps(tmp_path: Path) -> None:
    page = tmp_path / "big.html"
    page.write_text(render_html_report(_big_report(500, 20)))
    began = time.monotonic()
    dom = parse(render_dom(page, tmp_path, "?failed=1"))
    wall = time.monotonic() - began
    assert len(dom.rows) == 500 and len(dom.rows["host000"]["cells"]) == 20
    print(f"\nHTML report 500 hosts x 20 steps ({page.stat().st_size // 1024} KiB): script "
          f"rendered the grid in {dom.body['data-render-ms']} ms; chromium start to DOM dump "
          f"{wall:.2f} s")
