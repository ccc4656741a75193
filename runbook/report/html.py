"""The HTML report (`--report-html`, `report.html` in every run folder): one self-contained file.

No network and no external assets: the CSS and a small vanilla script are inline, and the data
is the JSON report itself (`build_json_report`), embedded in a `<script type="application/json">`
block. The script builds the step x host grid from it with `textContent` only, so command output
is never parsed as HTML, and 500 hosts x 20 steps render in well under a second.

The query string pre-sets the view, which makes the page easy to link and to test headless:
`?failed=1` shows only hosts with a failure, `?host=TEXT` filters host ids, `?cell=HOST|STEP`
opens one host-step's details (STEP is the step's number from 1, as the console shows it).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from runbook.engine.results import RunOutcome
from runbook.report.json_report import atomic_write, build_json_report

# Inside <script> only `</` (closing the element) and `<!--` matter; escaping every `<`, `>` and
# `&` as JSON \u escapes keeps the text inert in any HTML context. U+2028/9 are legal JSON but
# were not legal in older JavaScript string literals.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                              "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _asset(name: str) -> str:
    """An inline asset shipped next to this module (report/assets/)."""
    return resources.files("runbook.report").joinpath("assets", name).read_text("utf-8")


def embed_json(data: Any) -> str:
    """`data` as JSON text that is safe inside a `<script>` element."""
    return "".join(_embedded_pieces(data))


def _embedded_pieces(data: Any) -> Iterator[str]:
    """`embed_json(data)` in pieces as they are encoded (escaping is per character, so a
    piece boundary never splits what it escapes)."""
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    for piece in encoder.iterencode(data):
        yield piece.translate(_SCRIPT_SAFE)


def html_report_pieces(report: dict[str, Any]) -> Iterator[str]:
    """The HTML page of a JSON report dict, in pieces: written one after another, the page
    of a 500-host report with its outputs is never held whole in memory."""
    title = html.escape(f"runbook: {report.get('runbook', '')} ({report.get('status', '')})")
    yield (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        # no network: forbid every fetch, allow only the inline style and script
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
        f"<title>{title}</title>\n<style>\n{_asset('report.css')}</style>\n</head>\n"
        f"<body>\n{_asset('report_body.html')}"
        "<script type=\"application/json\" id=\"report-data\">"
    )
    yield from _embedded_pieces(report)
    yield f"</script>\n<script>\n{_asset('report.js')}</script>\n</body>\n</html>\n"


def render_html_report(report: dict[str, Any]) -> str:
    """The HTML page of a JSON report dict (as `build_json_report` returns or a run folder holds)."""
    return "".join(html_report_pieces(report))


def build_html_report(outcome: RunOutcome, mask: Callable[[str], str] | None = None) -> str:
    """The HTML page of a run's outcome; the data is the JSON report, masked with `mask`."""
    return render_html_report(build_json_report(outcome, mask))


def write_html_report(outcome: RunOutcome, path: str | Path,
                      mask: Callable[[str], str] | None = None) -> None:
    """Write the HTML report atomically, piece by piece (`html_report_pieces`)."""
    atomic_write(Path(path), html_report_pieces(build_json_report(outcome, mask)))
