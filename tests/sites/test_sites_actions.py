"""Step modifiers and console hosts through a site's worker (issue 17, docs/sites.md):
`delegate_to` a host of the same site, `delegate_to` a host of another site (a finding naming
both hosts), and a telnet console host driven by a worker. (`run_once` through a worker:
test_sites_records.py.) Real `runbook apply`, a real redis-server, real workers, a real telnetd.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from runbook.records import list_runs
from tests.peers.telnetd import TelnetPeer
from tests.sites.conftest import RedisServer, SiteWorkers
from tests.sites.sitelab import REPO, apply, controller_env, lab_doc
from tests.sshlab import SshdLab


def test_delegate_to_a_host_of_the_same_site_runs_there(
        running: SiteWorkers, site_lab: Path, sshd_lab: SshdLab, redis_server: RedisServer,
        tmp_path: Path) -> None:
    book = """
name: delegated
steps:
  - name: where
    hosts: "^h04$"
    delegate_to: h03
    run: echo "for {{ host.id }} at $(echo $SSH_CONNECTION | cut -d' ' -f3)"
"""
    proc, report = apply(tmp_path, site_lab, book, controller_env(redis_server))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = report["steps"][0]["results"]["h04"]
    assert result["output"] == f"for h04 at {sshd_lab.address_of('h03')}\n", result


def test_delegate_to_a_host_of_another_site_is_a_finding_naming_both(
        site_lab: Path, redis_server: RedisServer, tmp_path: Path) -> None:
    book = tmp_path / "across.yml"
    book.write_text('name: across\nsteps:\n  - name: hop\n    hosts: "^(h03|h04)$"\n'
                    '    delegate_to: h05\n    run: "true"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_SECRET_")}
    proc = subprocess.run(
        [sys.executable, "-m", "runbook", "validate", str(book), "--lab", str(site_lab)],
        cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=60, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert f"{book}:5" in text, text
    assert "delegate_to: 'h05' (site west) cannot run the step of target 'h03' (site east)" \
        in text, text
    assert "Traceback" not in text


def test_a_telnet_console_host_is_driven_by_its_sites_worker(
        workers: SiteWorkers, sshd_lab: SshdLab, redis_server: RedisServer, tmp_path: Path,
        telnet_peer: TelnetPeer, console_user: tuple[str, str]) -> None:
    user, password = console_user
    console = {"tn1": {"transport": "telnet", "address": "127.0.0.1", "port": telnet_peer.port,
                       "user": user, "password": "{{ secret('CONSOLE_PW') }}",
                       "site": "north"}}
    lab = lab_doc(sshd_lab, redis_server, tmp_path / "console.yml")
    doc = yaml.safe_load(lab.read_text())
    ssh_only = {k: doc["defaults"].pop(k) for k in ("port", "key", "known_hosts")}
    for host in doc["hosts"].values():  # a telnet host takes none of the SSH defaults
        host.update(ssh_only)
    doc["hosts"].update(console)
    lab.write_text(yaml.safe_dump(doc, sort_keys=False))
    north = SiteWorkers(lab, tmp_path, {**workers.env, "RUNBOOK_SECRET_CONSOLE_PW": password})
    north.start("north")
    book = """
name: console
steps:
  - name: who
    hosts: "^(tn1|h01)$"
    run: cd /tmp && echo hello-$(basename $PWD) from {{ host.id }}
"""
    runs_dir = tmp_path / "runs"
    try:  # the controller has no CONSOLE_PW: only the north worker does
        proc, report = apply(tmp_path, lab, book, controller_env(redis_server),
                             "--runs-dir", str(runs_dir))
    finally:
        north.stop_all()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["sites"] == {"tn1": "north"}
    results = report["steps"][0]["results"]
    assert results["tn1"]["status"] == "success", results["tn1"]
    assert results["tn1"]["output"].strip() == "hello-tmp from tn1"
    [run] = list_runs(runs_dir)
    log = (run.path / "hosts" / "tn1.log").read_text()
    assert "run: cd /tmp && echo hello-$(basename $PWD) from tn1" in log, log
    assert "hello-tmp from tn1" in log
    assert password not in log + proc.stdout + proc.stderr
