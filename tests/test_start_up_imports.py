"""What every `runbook apply` imports: nothing that only an unused feature needs.

Each module here cost milliseconds of every run's start-up (docs/performance.md, fixed cost).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: tarfile: only `get` with become; importlib.resources (with zipfile): the HTML report's
#: assets, read as plain files when the package is on the file system.
NOT_FOR_EVERY_RUN = ("tarfile", "zipfile", "importlib.resources")


def test_hosts_and_the_html_report_import_no_unused_module() -> None:
    code = ("import sys\n"
            "import runbook.hosts.local, runbook.hosts.ssh, runbook.hosts.become_files\n"
            "from runbook.report.html import render_html_report\n"
            "page = render_html_report({'runbook': 'r.yml', 'status': 'success'})\n"
            "assert 'report-data' in page and '<style>' in page\n"
            f"print(sorted(m for m in {NOT_FOR_EVERY_RUN!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=False,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert result.stdout.strip() == "[]", result.stderr
