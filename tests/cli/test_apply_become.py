"""`become` on steps through `runbook apply`: real sshd lab logins, real sudo (tests/sudolab.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.sshlab import SshdLab
from tests.sudolab import SudoAccounts

REPO = Path(__file__).resolve().parent.parent.parent


def _lab(sshd_lab: SshdLab, tmp_path: Path, accounts: SudoAccounts) -> Path:
    return sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01"], extra={"hosts": {"h01": {
        "user": accounts.withpass, "become_password": "{{ secret('BECOME_PW') }}"}}})


def _runbook(cli: str, tmp_path: Path, lab: Path, book: str, password: str,
             *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    path = tmp_path / "book.yml"
    path.write_text(book)
    report = tmp_path / "report.json"
    env = {**os.environ, "RUNBOOK_SECRET_BECOME_PW": password, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "runbook", cli, str(path), "--lab", str(lab),
                           *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    return proc, report


def _results(report: dict[str, Any], step: int) -> dict[str, Any]:
    found: dict[str, Any] = report["steps"][step]["results"]["h01"]
    return found


def test_become_steps_run_put_get_and_keep_their_shell(sshd_lab: SshdLab, tmp_path: Path,
                                                       sudo_accounts: SudoAccounts) -> None:
    token = uuid.uuid4().hex[:8]
    (tmp_path / "payload.txt").write_text("payload\n")
    book = f"""
name: become steps
steps:
  - {{name: cd as root, hosts: h01, become: true, run: cd /root && export RB_MARK=kept}}
  - {{name: state kept, hosts: h01, become: true, run: pwd; id -un; echo $RB_MARK}}
  - {{name: plain login user, hosts: h01, run: 'id -un; echo "<$RB_MARK>"'}}
  - {{name: oneshot as root, hosts: h01, become: true, oneshot: id -un}}
  - name: put as root
    hosts: h01
    become: true
    put: {{src: payload.txt, dest: /root/rbput-{token}, mode: "0640"}}
  - {{name: owner and mode, hosts: h01, become: true,
      oneshot: "stat -c '%U %a' /root/rbput-{token}/payload.txt"}}
  - {{name: a root-only file, hosts: h01, become: true,
      run: "echo root only > /root/rbget-{token} && chmod 600 /root/rbget-{token}"}}
  - {{name: get it, hosts: h01, become: true, get: {{src: /root/rbget-{token}, dest: got}}}}
  - {{name: clean up, hosts: h01, become: true,
      oneshot: "rm -rf /root/rbput-{token} /root/rbget-{token}"}}
"""
    lab = _lab(sshd_lab, tmp_path, sudo_accounts)
    password = sudo_accounts.password
    plan, _ = _runbook("plan", tmp_path, lab, book, password)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "run: cd /root && export RB_MARK=kept [become root]" in plan.stdout
    assert "plain login user" in plan.stdout and "id -un; echo \"<$RB_MARK>\"\n" in plan.stdout
    proc, report_path = _runbook("apply", tmp_path, lab, book, password, "-v",
                                 "--report-json", str(tmp_path / "report.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report_text = report_path.read_text()
    report = json.loads(report_text)
    assert _results(report, 1)["output"] == "/root\nroot\nkept\n"
    assert _results(report, 2)["output"] == f"{sudo_accounts.withpass}\n<>\n"
    assert _results(report, 3)["output"] == "root\n"
    assert _results(report, 5)["output"] == "root 640\n"
    assert (tmp_path / "got" / "h01" / f"rbget-{token}").read_text() == "root only\n"
    for text in (proc.stdout, proc.stderr, report_text, plan.stdout, plan.stderr):
        assert password not in text


def test_a_wrong_become_password_fails_the_host_naming_the_user(
        sshd_lab: SshdLab, tmp_path: Path, sudo_accounts: SudoAccounts) -> None:
    book = "name: wrong\nsteps:\n  - {hosts: h01, become: true, run: id -un}\n"
    lab = _lab(sshd_lab, tmp_path, sudo_accounts)
    proc, report_path = _runbook("apply", tmp_path, lab, book, "not-the-password",
                                 "--report-json", str(tmp_path / "report.json"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = _results(json.loads(report_path.read_text()), 0)
    assert result["status"] in ("failed", "error")
    assert "cannot become 'root'" in result["message"]
    assert "not-the-password" not in proc.stdout + proc.stderr + report_path.read_text()


def test_become_on_a_block_runs_run_oneshot_and_put_inside_as_root(
        sshd_lab: SshdLab, tmp_path: Path, sudo_accounts: SudoAccounts) -> None:
    token = uuid.uuid4().hex[:8]
    (tmp_path / "payload.txt").write_text("payload\n")
    book = f"""
name: become block
steps:
  - name: as root
    hosts: h01
    become: true
    block:
      - {{name: run inside, run: id -u}}
      - {{name: oneshot inside, oneshot: id -u}}
      - {{name: put inside, put: {{src: payload.txt, dest: /tmp/rbblock-{token}}}}}
      - {{name: owner, oneshot: "stat -c '%u %U' /tmp/rbblock-{token}/payload.txt"}}
      - {{name: own choice, become: false, run: id -un}}
    always:
      - {{name: clean up, oneshot: "rm -rf /tmp/rbblock-{token}"}}
"""
    lab = _lab(sshd_lab, tmp_path, sudo_accounts)
    proc, report_path = _runbook("apply", tmp_path, lab, book, sudo_accounts.password,
                                 "--report-json", str(tmp_path / "report.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(report_path.read_text())
    assert [_results(report, n)["output"] for n in (0, 1, 3, 4)] == [
        "0\n", "0\n", "0 root\n", f"{sudo_accounts.withpass}\n"]
    assert _results(report, 2)["status"] == "success"
