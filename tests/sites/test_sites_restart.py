"""`--rerun-failed` of a multi-site run is refused (exit 2, saying why): a site's worker runs
its whole share and cannot start a host part-way (docs/records.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.sites.conftest import RedisServer
from tests.sites.sitelab import REPO, controller_env


def test_a_rerun_of_a_multi_site_run_is_refused_before_anything_runs(
        site_lab: Path, redis_server: RedisServer, tmp_path: Path) -> None:
    book = tmp_path / "book.yml"
    book.write_text("name: sited\nsteps:\n  - {name: one, hosts: '^h0[3-6]$', run: 'true'}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(site_lab),
         "--rerun-failed", "last", "--runs-dir", str(tmp_path / "runs")],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=120,
        env=controller_env(redis_server))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--rerun-failed does not support multi-site runs yet" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()
