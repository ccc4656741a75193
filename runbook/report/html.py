"""The HTML report (`--report-html`, `report.html` in every run folder): one self-contained file.

No network and no external assets: the CSS and a small vanilla script are inline, and the data
is the JSON report itself (`build_json_report`), embedded in a `<script type="application/json">`
block. The script builds the step x host grid from it with `textContent` only, so command output
is never parsed as HTML, and 500 hosts x 20 steps render in well under a second. In a
multi-site run (docs/sites.md) each site host shows its site beside its id (and in the
host-step details), from the report's `sites`.

The query string pre-sets the view, which makes the page easy to link and to test headless:
`?failed=1` shows only hosts with a failure, `?host=TEXT` filters host ids, `?cell=HOST|STEP`
opens one host-step's details (STEP is the step's number from 1, as the console shows it).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from runbook.engine.results import RunOutcome
from runbook.report.json_report import atomic_write, build_json_report

# Inside <script> only `</` (closing the element) and `<!--` matter; escaping every `<`, `>` and
# `&` as JSON \u escapes keeps the text inert in any HTML context. U+2028/9 are legal JSON but
# were not legal in older JavaScript string literals.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                              "\u2028": "\\u2028", "\u2029": "\\u2029"})


_ASSETS = Path(__file__).with_name("assets")


def _asset(name: str) -> str:
    """An inline asset shipped next to this module (report/assets/).

    Read as a plain file: `importlib.resources` (with zipfile and its readers) cost ~5 ms of
    every apply, whose run folder always gets report.html. Only a package that is not on the
    file system (a zip) needs the resources API.
    """
    path = _ASSETS / name
    if path.is_file():
        return path.read_text("utf-8")
    from importlib import resources

    return resources.files("runbook.report").joinpath("assets", name).read_text("utf-8")


def embed_json(data: Any) -> str:
    """`data` as JSON text that is safe inside a `<script>` element."""
    return "".join(_embedded_pieces(data))


def _embedded_pieces(data: Any) -> Iterator[str]:
    """`embed_json(data)` in pieces (escaping is per character, so a piece boundary never
    splits what it escapes)."""
    batch: list[str] = []
    size = 0
    for piece in _compact_pieces(data, _PIECE_DEPTH):
        batch.append(piece)
        size += len(piece)
        if size >= _BATCH:  # one `translate` per 64 KiB, not one per piece
            yield "".join(batch).translate(_SCRIPT_SAFE)
            batch, size = [], 0
    yield "".join(batch).translate(_SCRIPT_SAFE)


#: How deep the report is taken apart into pieces: report > steps > step > results > one
#: result, which json's C encoder encodes whole. For a 500-host, 20-step report: 0.05 s,
#: where json's pure-Python `iterencode` took 0.19 s and one string 0.02 s.
_PIECE_DEPTH = 4
#: Characters of pieces joined before they are escaped and given out.
_BATCH = 64 * 1024


def _compact_pieces(data: Any, depth: int) -> Iterator[str]:
    """`json.dumps(data, ensure_ascii=False, separators=(",", ":"))` in pieces: containers
    down to `depth` levels one item at a time, anything deeper (or scalar) in one piece."""
    if depth == 0 or not isinstance(data, dict | list):
        yield json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return
    items = data.items() if isinstance(data, dict) else enumerate(data)
    keyed = isinstance(data, dict)
    yield "{" if keyed else "["
    for i, (key, value) in enumerate(items):
        lead = ("," if i else "") + (json.dumps(str(key), ensure_ascii=False) + ":" if keyed else "")
        if depth == 1 or not isinstance(value, dict | list):
            yield lead + json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        else:
            yield lead
            yield from _compact_pieces(value, depth - 1)
    yield "}" if keyed else "]"


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
