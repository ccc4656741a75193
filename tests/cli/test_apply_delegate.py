"""`run_once` and `delegate_to` through `runbook apply` on 12 sshd lab hosts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema

from tests.sshlab import SshdLab

REPO = Path(__file__).resolve().parent.parent.parent
TARGETS = [f"h{i:02d}" for i in range(1, 13)]


def apply(tmp_path: Path, lab: Path, book: str, *args: str
          ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    path = tmp_path / "book.yml"
    path.write_text(book)
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "runbook", "apply", str(path), "--lab", str(lab),
                           "--report-json", str(report), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert report.exists(), proc.stdout + proc.stderr
    data: dict[str, Any] = json.loads(report.read_text())
    jsonschema.validate(data, json.loads((REPO / "schemas" / "report.schema.json").read_text()))
    return proc, data


def _lab(sshd_lab: SshdLab, tmp_path: Path) -> Path:
    return sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=[*TARGETS, "h13"], extra={"hosts": {
        "deadctl": {"address": "127.0.0.250", "connect_timeout": 2},
        **{h: {"vars": {"outlet": int(h[1:])}} for h in TARGETS}}})


BOOK = """
name: once and delegated
steps:
  - name: once
    hosts: ^h(0[1-9]|1[0-2])$
    run_once: true
    oneshot: echo "once on {{ host.id }} at $SSH_CONNECTION"
    register: once
  - name: every target has the once result
    hosts: ^h(0[1-9]|1[0-2])$
    oneshot: echo "{{ host.id }} saw {{ once.output | trim }}"
  - name: delegated to h13
    hosts: ^h(0[1-9]|1[0-2])$
    delegate_to: h13
    oneshot: echo "outlet {{ host.vars.outlet }} of {{ host.id }} from $SSH_CONNECTION"
    register: pdu
  - name: delegated to this machine
    hosts: ^h(0[1-9]|1[0-2])$
    delegate_to: local
    oneshot: echo "{{ host.id }} {{ pdu.rc }} [${SSH_CONNECTION:-here}]"
  - name: delegated to a dead host
    hosts: ^h0[1-3]$
    delegate_to: deadctl
    oneshot: echo never
"""


def test_run_once_and_delegate_to_on_twelve_hosts(sshd_lab: SshdLab, tmp_path: Path) -> None:
    lab = _lab(sshd_lab, tmp_path)
    proc, report = apply(tmp_path, lab, BOOK)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    once, saw, pdu, local, dead = (s["results"] for s in report["steps"])
    h01_address = sshd_lab.address_of("h01")
    assert list(once) == TARGETS
    assert all(r["status"] == "success" for r in once.values())
    assert once["h01"]["output"].startswith("once on h01 at ")
    assert h01_address in once["h01"]["output"]
    for host in TARGETS[1:]:
        assert once[host]["output"] == once["h01"]["output"]
        assert "run_once: the result of 'h01'" in once[host]["message"]
        assert saw[host]["output"] == f"{host} saw {once['h01']['output'].strip()}\n"
    ctl = sshd_lab.address_of("h13")
    for number, host in enumerate(TARGETS, 1):
        words = pdu[host]["output"].split()
        assert words[:4] == ["outlet", str(number), "of", host]
        assert words[7] == ctl  # SSH_CONNECTION: client ip, port, SERVER ip, port
        assert local[host]["output"] == f"{host} 0 [here]\n"
    assert set(dead) == {"h01", "h02", "h03"}
    for result in dead.values():
        assert result["status"] == "error"
        assert "delegate 'deadctl' is unreachable" in result["message"]
    assert "unreachable" not in [r["status"] for r in dead.values()]
    # shown once: one console line for the run_once step, twelve for the next
    shown = [m.groups() for m in re.finditer(r"^\d\d:\d\d:\d\d  (.+?) {2,}(h\d\d) ",
                                             proc.stdout, re.MULTILINE)]
    assert [host for step, host in shown if step == "once"] == ["h01"]
    assert sorted(host for step, host in shown
                  if step == "every target has the once result") == TARGETS
    plan = subprocess.run([sys.executable, "-m", "runbook", "plan", str(tmp_path / "book.yml"),
                           "--lab", str(lab)], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert 'h02  on h13: oneshot: echo "outlet 2 of h02 from $SSH_CONNECTION"' in plan.stdout
    assert "h02  run_once: runs on h01 only, result shared" in plan.stdout


def test_validate_names_an_unknown_delegate_with_did_you_mean(sshd_lab: SshdLab,
                                                              tmp_path: Path) -> None:
    lab = _lab(sshd_lab, tmp_path)
    book = tmp_path / "typo.yml"
    book.write_text("name: typo\nsteps:\n  - hosts: h01\n    delegate_to: deadclt\n"
                    "    oneshot: 'true'\n")
    proc = subprocess.run([sys.executable, "-m", "runbook", "validate", str(book), "--lab",
                           str(lab)], cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 1  # validate: 1 when a file has problems
    assert f"{book}:4:18: step 1: delegate_to: no host 'deadclt' in the lab; did you mean " \
           "'deadctl'?" in proc.stdout + proc.stderr
