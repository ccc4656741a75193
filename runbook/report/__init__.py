"""Reports for CI, built from a finished (or interrupted) `RunOutcome`: JSON and JUnit XML.

Outputs in the outcome are already masked, so reports never hold a secret.
"""

from runbook.report.json_report import build_json_report, write_json_report
from runbook.report.junit import build_junit, write_junit

__all__ = ["build_json_report", "build_junit", "write_json_report", "write_junit"]
