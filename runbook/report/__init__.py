"""Reports built from a finished (or interrupted) `RunOutcome`: JSON, JUnit XML and HTML.

Outputs in the outcome are already masked, so reports never hold a secret.
"""

from runbook.report.html import build_html_report, render_html_report, write_html_report
from runbook.report.json_report import build_json_report, write_json_report
from runbook.report.junit import build_junit, write_junit

__all__ = [
    "build_html_report", "build_json_report", "build_junit", "render_html_report",
    "write_html_report", "write_json_report", "write_junit",
]
