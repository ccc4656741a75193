"""become, relative `put` / `get` paths and the become password through the keeper (real
sudo on the sshd lab): the keeper runs in `/`, so the run's relative paths must arrive
absolute, and sudo's password travels with the run's requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.sshlab import SshdLab
from tests.sudolab import SudoAccounts

REPO = Path(__file__).resolve().parent.parent.parent


def test_become_and_relative_paths_through_the_keeper(sshd_lab: SshdLab, tmp_path: Path,
                                                      sudo_accounts: SudoAccounts) -> None:
    token = uuid.uuid4().hex[:8]
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01"], extra={"hosts": {"h01": {
        "user": sudo_accounts.withpass, "become_password": "{{ secret('BECOME_PW') }}"}}})
    (tmp_path / "payload.txt").write_text("payload\n")
    book = tmp_path / "book.yml"
    book.write_text(f"""
name: kept become
steps:
  - {{name: who, hosts: h01, become: true, run: id -un}}
  - {{name: put, hosts: h01, become: true, put: {{src: payload.txt, dest: /root/rbk-{token}}}}}
  - {{name: owner, hosts: h01, become: true, oneshot: "stat -c %U /root/rbk-{token}/payload.txt"}}
  - {{name: get, hosts: h01, become: true, get: {{src: /root/rbk-{token}/payload.txt, dest: got}}}}
  - {{name: clean, hosts: h01, become: true, oneshot: "rm -rf /root/rbk-{token}"}}
""")
    env = {**os.environ, "RUNBOOK_SECRET_BECOME_PW": sudo_accounts.password,
           "PYTHONPATH": str(REPO), "RUNBOOK_STATE_DIR": str(tmp_path / "state")}
    report = tmp_path / "report.json"
    try:
        proc = subprocess.run([sys.executable, "-m", "runbook", "apply", "book.yml", "--lab",
                               str(lab), "--persist", "60s", "--report-json", "report.json"],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
    finally:
        subprocess.run([sys.executable, "-m", "runbook", "persist", "--stop"], env=env,
                       capture_output=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = {s["name"]: s["results"]["h01"] for s in json.loads(report.read_text())["steps"]}
    assert results["who"]["output"].strip() == "root"
    assert results["owner"]["output"].strip() == "root"
    assert (tmp_path / "got" / "h01" / "payload.txt").read_text() == "payload\n"
    assert sudo_accounts.password not in (tmp_path / "state" / "keeper.log").read_text()
