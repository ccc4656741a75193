"""`runbook plan` shows who runs what: `[become USER]`, delegation, run_once, waits, dialogs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent

LAB = """\
hosts:
  r1: {address: 10.0.0.11, become: true, become_user: admin}
  r2: {address: 10.0.0.12}
  pdu1: {address: 10.0.0.2}
"""

BOOK = """\
name: modifiers
lab: lab.yml
steps:
  - {name: host default, hosts: ^r, run: id -un}
  - {name: step says root, hosts: ^r, become: true, become_user: root, oneshot: id -un}
  - {name: step says no, hosts: ^r, become: false, run: id -un}
  - {name: put, hosts: r2, become: true, put: {src: lab.yml, dest: /etc/x, mode: "0600"}}
  - {name: via pdu, hosts: ^r, delegate_to: pdu1, oneshot: 'pdu off {{ host.id }}'}
  - {name: once, hosts: ^r, run_once: true, oneshot: date}
  - {name: port, hosts: r2, wait_for: {port: 22, timeout: 60}}
  - {name: file, hosts: r1, wait_for: {path: /run/ok, state: absent, timeout: 5}}
  - name: dialog
    hosts: r2
    interact:
      - {expect: 'Password: ', send: "{{ secret('PW') }}\\\\r", timeout: 5}
"""


def test_plan_shows_become_delegation_run_once_waits_and_dialogs(tmp_path: Path) -> None:
    (tmp_path / "lab.yml").write_text(LAB)
    (tmp_path / "book.yml").write_text(BOOK)
    env = {**os.environ, "PYTHONPATH": str(REPO), "RUNBOOK_SECRET_PW": "hunter2-pw"}
    done = subprocess.run([sys.executable, "-m", "runbook", "plan", "book.yml"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert "r1  run: id -un [become admin]" in lines
    assert "r2  run: id -un" in lines
    assert "r1  oneshot: id -un [become root]" in lines
    assert "r2  oneshot: id -un [become root]" in lines
    assert lines.count("r1  run: id -un") == 1  # become: false beats the host's default
    assert "r2  put lab.yml -> /etc/x (mode 0600) [become root]" in lines
    assert "r1  on pdu1: oneshot: pdu off r1" in lines
    assert "r2  run_once: runs on r1 only, result shared" in lines
    assert "r2  wait_for port 22 to be started (from this machine) (timeout 60s)" in lines
    assert "r1  wait_for /run/ok to be absent (timeout 5s) [become admin]" in lines
    assert "r2  interact 1: expect /Password: /, then send '***\\r' (timeout 5s)" in lines
    assert "hunter2-pw" not in done.stdout + done.stderr
