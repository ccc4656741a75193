"""A site's worker killed with SIGKILL mid-step (issue 17): its hosts that had not finished
are `error: worker for site X lost`, the other parts go on, and the transcript text the worker
shipped before it died stays in the controller's run folder. Real `runbook apply`, a real
redis-server and real workers (tests/sites/conftest.py).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import jsonschema

from runbook.records import list_runs
from tests.sites.conftest import RedisServer, SiteWorkers
from tests.sites.sitelab import (
    ALL,
    REPO,
    SCHEMA,
    controller_env,
    kill_markers,
    marker_pids,
)


def transcript(runs_dir: Path, host_id: str) -> str:
    """The host's transcript in the (one) run folder under `runs_dir`; "" while there is none."""
    runs = list_runs(runs_dir) if runs_dir.is_dir() else []
    path = runs[0].path / "hosts" / f"{host_id}.log" if runs else None
    return path.read_text(errors="replace") if path is not None and path.exists() else ""


def test_a_worker_killed_mid_step_marks_its_hosts_lost(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer, tmp_path: Path) -> None:
    marker = f"kill-{uuid.uuid4().hex}"
    book = tmp_path / "kill.yml"
    book.write_text(f"""
name: worker killed
steps:
  - name: long
    hosts: "{ALL}"
    run: sh -c 'sleep 8; echo {marker}'
  - name: after
    hosts: "{ALL}"
    run: echo after
""")
    report, runs_dir = tmp_path / "report.json", tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(site_lab),
         "--report-json", str(report), "--runs-dir", str(runs_dir)], cwd=REPO,
        env=controller_env(redis_server), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    command = f"run: sh -c 'sleep 8; echo {marker}'"
    try:
        deadline = time.monotonic() + 60
        while (len(marker_pids(marker)) < 6 or command not in transcript(runs_dir, "h03")) \
                and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.1)
        assert len(marker_pids(marker)) >= 6
        assert command in transcript(runs_dir, "h03")  # shipped while the step runs
        running.stop("east", signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_markers(marker)
    assert proc.returncode == 1, out
    data = json.loads(report.read_text())
    jsonschema.validate(data, SCHEMA)
    first, second = data["steps"][0]["results"], data["steps"][1]["results"]
    for host_id in ("h03", "h04"):
        assert first[host_id]["status"] == "error"
        assert first[host_id]["message"] == "worker for site east lost"
        assert second[host_id]["status"] == "skipped"
    for host_id in ("h01", "h02", "h05", "h06"):
        assert first[host_id]["status"] == "success", first[host_id]
        assert second[host_id]["status"] == "success", second[host_id]
    log = transcript(runs_dir, "h03")  # what was shipped before the kill is kept
    assert command in log and "worker for site east lost: nothing more was shipped" in log, log
    assert "run: echo after" in transcript(runs_dir, "h05")
