"""Reports built from a finished (or interrupted) `RunOutcome`: JSON, JUnit XML and HTML.

Outputs in the outcome are already masked, so reports never hold a secret.

Names resolve on first use (PEP 562): the run recorder imports `json_report` when a run
starts, and the HTML and JUnit writers (with `html`, `xml.etree`) are only needed when it ends,
after the first connection; importing them with the package cost 2-4 ms of start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbook._lazyimport import lazy_exports

if TYPE_CHECKING:
    from runbook.report.html import build_html_report, render_html_report, write_html_report
    from runbook.report.json_report import build_json_report, write_json_report
    from runbook.report.junit import build_junit, write_junit

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("build_html_report", "render_html_report", "write_html_report"),
                    "runbook.report.html"),
    **dict.fromkeys(("build_json_report", "write_json_report"), "runbook.report.json_report"),
    **dict.fromkeys(("build_junit", "write_junit"), "runbook.report.junit"),
}

__all__ = [
    "build_html_report", "build_json_report", "build_junit", "render_html_report",
    "write_html_report", "write_json_report", "write_junit",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
