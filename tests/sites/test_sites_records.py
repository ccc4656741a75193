"""The run folder of a multi-site run (docs/records.md, docs/sites.md): the recorder subscribes
to the bus the sites' events are merged into, so report.json, junit.xml and journal.jsonl hold
the site hosts like local ones, each with its site; `runbook show` rebuilds that from the
journal alone. Real `runbook apply`, a real redis-server and two real workers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from runbook.records import list_runs, read_journal
from tests.sites.conftest import RedisServer, SiteWorkers
from tests.sites.sitelab import REPO, SITE_TOKEN, apply, controller_env

BOOK = """
name: recorded
steps:
  - name: hello
    hosts: "^(h01|h03|h05)$"
    run: echo hello from {{ host.id }}
  - name: east only
    hosts: "^(h01|h03)$"
    run: echo second
"""
SITES = {"h03": "east", "h05": "west"}


def test_the_run_folder_records_the_site_hosts_with_their_site(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer, tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    proc, report = apply(tmp_path, site_lab, BOOK, controller_env(redis_server),
                         "--runs-dir", str(runs_dir))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [run] = list_runs(runs_dir)
    folder = run.path
    assert report["run_id"] == folder.name and f"run {folder.name} recorded" in proc.stdout

    recorded = json.loads((folder / "report.json").read_text())
    assert recorded["sites"] == SITES and recorded["run_id"] == folder.name
    hello = recorded["steps"][0]["results"]
    assert sorted(hello) == ["h01", "h03", "h05"]
    assert all(hello[h]["output"] == f"hello from {h}\n" for h in hello), hello
    assert list(recorded["steps"][1]["results"]) == ["h01", "h03"]

    records = read_journal(folder / "journal.jsonl")
    start = records[0]
    assert start["event"] == "run_start" and start["sites"] == SITES
    results = {(r["step"], r["host"]): r for r in records if r["event"] == "host_result"}
    assert sorted(results) == [(0, "h01"), (0, "h03"), (0, "h05"), (1, "h01"), (1, "h03")]
    assert {key: r.get("site") for key, r in results.items()} == {
        (0, "h01"): None, (0, "h03"): "east", (0, "h05"): "west", (1, "h01"): None,
        (1, "h03"): "east"}
    assert results[0, "h05"]["result"]["output"] == "hello from h05\n"
    assert [r["event"] for r in records].count("step_end") == 2
    assert records[-1]["event"] == "run_end" and records[-1]["status"] == "success"

    junit = ET.parse(folder / "junit.xml").getroot()
    sites = {case.get("name"): prop.get("value") for case in junit.iter("testcase")
             for prop in case.iter("property") if prop.get("name") == "site"}
    assert sites == SITES

    (folder / "report.json").unlink()  # as after a crash: `show` rebuilds from the journal
    shown = subprocess.run(
        [sys.executable, "-m", "runbook", "show", str(folder), "--format", "json"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
        text=True, timeout=60, check=False)
    assert shown.returncode == 0, shown.stderr
    rebuilt = json.loads(shown.stdout)
    assert rebuilt["sites"] == SITES and rebuilt["status"] == "success"
    assert sorted(rebuilt["steps"][0]["results"]) == ["h01", "h03", "h05"]


SHIPPED = """
name: shipped
steps:
  - name: token
    hosts: "^(h01|h03|h05)$"
    run: echo token={{ secret('SITE_TOKEN') }} on {{ host.id }}
    register: said
  - name: once
    hosts: "^(h03|h04)$"
    run_once: true
    run: echo once on {{ host.id }}
    register: first
"""


def test_site_hosts_ship_their_transcripts_and_registered_values(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer, tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    env = controller_env(redis_server, SITE_TOKEN=SITE_TOKEN)  # h01, driven here, needs it too
    proc, _ = apply(tmp_path, site_lab, SHIPPED, env, "--runs-dir", str(runs_dir))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [run] = list_runs(runs_dir)
    for host_id in ("h03", "h05"):
        log = (run.path / "hosts" / f"{host_id}.log").read_text()
        assert f"run: echo token=*** on {host_id}" in log, log
        assert f"\ntoken=*** on {host_id}\n" in log, log
        assert "end: exit status 0, success" in log, log
        assert SITE_TOKEN not in log
    assert "run: echo once on h03" in (run.path / "hosts" / "h03.log").read_text()

    records = read_journal(run.path / "journal.jsonl")
    registered = {(r["step"], r["host"]): r["registered"] for r in records
                  if r["event"] == "host_result"}
    for host_id in ("h01", "h03", "h05"):
        value = registered[0, host_id]
        assert value is not None and value["output"] == f"token=*** on {host_id}\n", value
        assert value["rc"] == 0
    assert registered[1, "h03"]["output"] == "once on h03\n"
    assert registered[1, "h04"] == registered[1, "h03"]  # the run_once copy, as without sites
    assert SITE_TOKEN not in (run.path / "journal.jsonl").read_text()
