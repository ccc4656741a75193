"""Lost parties of a multi-site run (issue 17). A site's worker killed with SIGKILL mid-step:
its hosts that had not finished are `error: worker for site X lost`, the other parts go on, and
the transcript text the worker shipped before it died stays in the controller's run folder.
The controller killed with SIGKILL mid-step: each worker stops hearing its heartbeat and
interrupts its share within the grace period (its remote processes killed, `interrupted`
shipped); a stall shorter than the grace interrupts nothing. Real `runbook apply`, a real
redis-server and real workers (tests/sites/conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import jsonschema

from runbook.records import list_runs
from runbook.sites.channel import CONTROLLER_GRACE
from runbook.sites.codec import decode
from tests.sites.conftest import RedisServer, SiteWorkers
from tests.sites.sitelab import (
    ALL,
    REPO,
    SCHEMA,
    SITE_OF,
    controller_env,
    kill_markers,
    marker_pids,
    wait_for,
    wait_no_marker,
)

SITE_HOSTS = "^h0[3-6]$"
LOST = f"no heartbeat from the controller for {CONTROLLER_GRACE:g} s: interrupting the share"
STALL = CONTROLLER_GRACE / 3  # the controller frozen this long: well within the grace


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


def _start_apply(book: Path, lab: Path, redis_server: RedisServer,
                 *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(lab), *args],
        cwd=REPO, env=controller_env(redis_server), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)


def _last_shipped(redis_server: RedisServer, site: str) -> dict[str, object]:
    """The last message the site's worker shipped for the (one) run nobody reads any more."""
    client = redis_server.client()
    [key] = list(client.scan_iter(f"runbook:run:*:{site}:events"))
    [(_, fields)] = client.xrevrange(key, count=1)
    return decode(fields[b"m"])


def test_kill_9_of_the_controller_interrupts_every_share_within_the_grace(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer, tmp_path: Path) -> None:
    marker = f"orphan-{uuid.uuid4().hex}"
    book = tmp_path / "orphan.yml"
    book.write_text(f"""
name: orphaned
steps:
  - name: long
    hosts: "{SITE_HOSTS}"
    run: bash -c 'exec -a {marker}-{{{{ host.id }}}} sleep 300'
  - name: after
    hosts: "{SITE_HOSTS}"
    run: echo never
""")
    seen = {site: len(running.log_text(site)) for site in ("east", "west")}
    proc = _start_apply(book, site_lab, redis_server, "--no-lock")
    try:
        wait_for(lambda: all(marker_pids(f"{marker}-{h}") for h in SITE_OF),
                  "the long sleep on every site host")
        proc.kill()  # no handler runs: the workers are told nothing
        proc.wait(30)
        # the grace, then the executor's kill of the remote process groups
        leftovers = wait_no_marker(marker, CONTROLLER_GRACE + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_markers(marker)
    assert leftovers == []
    for site in ("east", "west"):
        assert LOST in running.log_text(site)[seen[site]:], running.log_text(site)
        done = _last_shipped(redis_server, site)  # shipped though nobody listens
        assert done["t"] == "done" and done["status"] == "interrupted", done
        first = done["steps"][0]["results"]  # type: ignore[index]
        assert {r["status"] for r in first} == {"Error"}, first
        assert {r["message"] for r in first} == {"interrupted"}, first


def test_a_controller_stalled_shorter_than_the_grace_interrupts_nothing(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer, tmp_path: Path) -> None:
    marker = f"stall-{uuid.uuid4().hex}"
    gate = tmp_path / "go"
    book = tmp_path / "stall.yml"
    book.write_text(f"""
name: stalled
steps:
  - name: held
    hosts: "{SITE_HOSTS}"
    run: bash -c 'exec -a {marker}-{{{{ host.id }}}} sh -c "until [ -e {gate} ]; do sleep 0.1; done"'
  - name: after
    hosts: "{SITE_HOSTS}"
    run: echo after
""")
    seen = {site: len(running.log_text(site)) for site in ("east", "west")}
    report = tmp_path / "report.json"
    proc = _start_apply(book, site_lab, redis_server, "--report-json", str(report))
    try:
        wait_for(lambda: all(marker_pids(f"{marker}-{h}") for h in SITE_OF),
                  "the held step on every site host")
        os.kill(proc.pid, signal.SIGSTOP)  # its heartbeat thread frozen with it
        try:
            time.sleep(STALL)  # the stall itself, not a wait for anything
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        gate.touch()
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_markers(marker)
    assert proc.returncode == 0, out
    data = json.loads(report.read_text())
    for step in data["steps"]:
        assert {h: r["status"] for h, r in step["results"].items()} == dict.fromkeys(
            SITE_OF, "success"), step
    for site in ("east", "west"):
        assert "interrupting the share" not in running.log_text(site)[seen[site]:]
