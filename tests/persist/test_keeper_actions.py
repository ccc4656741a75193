"""`interact` and `power` through the keeper (`apply --persist`) on the sshd lab: a dialog
with a secret answered on a kept connection (output, transcript, masking), and a power action
that drops the host's kept connection, after which the next step reconnects and works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sshlab import SshdLab

REPO = Path(__file__).resolve().parent.parent.parent
SECRET = "kept-s3cret-4e1b"
ASK = "printf 'Name? '; read name; printf 'Secret? '; read s; echo \"hello $name (${#s} chars)\"\n"


class Runs:
    """`runbook` with the test's own keeper and run folders; the keeper stopped at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "RUNBOOK_SECRET_ANSWER": SECRET,
                    "RUNBOOK_STATE_DIR": str(tmp_path / "state"),
                    "RUNBOOK_RUNS_DIR": str(tmp_path / "runs")}

    def runbook(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "runbook", *args], cwd=self.tmp,
                              env=self.env, capture_output=True, text=True, timeout=120,
                              check=False)

    def apply(self, book: Path, lab: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        report = self.tmp / "report.json"
        proc = self.runbook("apply", "-v", str(book), "--lab", str(lab), "--persist", "60s",
                            "--report-json", str(report))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc, json.loads(report.read_text())

    def status(self) -> dict[str, Any]:
        shown = subprocess.run(
            [sys.executable, "-c", "import json; from runbook.persist.client import control; "
             "print(json.dumps(control('status')))"],
            env=self.env, capture_output=True, text=True, timeout=30, check=True)
        status: dict[str, Any] | None = json.loads(shown.stdout)
        assert status is not None, "no keeper runs"
        return status


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Runs]:
    made = Runs(tmp_path)
    yield made
    made.runbook("persist", "--stop")


def test_a_dialog_runs_on_a_kept_connection(runs: Runs, sshd_lab: SshdLab,
                                            tmp_path: Path) -> None:
    script = tmp_path / "ask.sh"
    script.write_text(ASK)
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01", "h02"])
    book = tmp_path / "book.yml"
    book.write_text(f"""
name: kept dialog
steps:
  - name: answer
    hosts: h0[12]
    timeout: 60
    interact:
      - {{expect: '[#$] ?$', send: 'sh {script}\\r'}}
      - {{expect: 'Name\\? $', send: '{{{{ host.id }}}}\\r'}}
      - {{expect: 'Secret\\? $', send: "{{{{ secret('ANSWER') }}}}\\\\r", timeout: 10}}
      - expect: 'hello h0[12] \\(16 chars\\)'
""")
    runs.apply(book, lab)  # leaves the connections with the keeper
    opened = runs.status()["opened"]
    proc, report = runs.apply(book, lab)
    assert runs.status()["opened"] == opened, "the dialog did not use the kept connection"
    results = report["steps"][0]["results"]
    for host in ("h01", "h02"):
        assert results[host]["status"] == "success", results[host]
        assert f"hello {host} (16 chars)" in results[host]["output"]
    transcripts = sorted((tmp_path / "runs").rglob("hosts/h02*"))
    assert transcripts, sorted(str(p) for p in (tmp_path / "runs").rglob("*"))
    assert "hello h02 (16 chars)" in transcripts[-1].read_text(errors="replace")
    recorded = [p.read_bytes() for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    for text in (proc.stdout, proc.stderr, *(b.decode(errors="replace") for b in recorded),
                 (tmp_path / "state" / "keeper.log").read_text()):
        assert SECRET not in text


def test_a_power_action_drops_the_kept_connection(runs: Runs, sshd_lab: SshdLab,
                                                  tmp_path: Path) -> None:
    state = tmp_path / "power-state"
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01", "h02"], extra={"hosts": {
        "h02": {"power_control": {
            "type": "command", "controller": "h01", "cycle_delay": 0.1,
            "on_cmd": f"echo running > {state}", "off_cmd": f"echo shut off > {state}",
            "status_cmd": f"cat {state}", "status_on": "running"}}}})
    book = tmp_path / "book.yml"
    book.write_text("""
name: kept power
steps:
  - {name: before, hosts: "h0[12]", run: "echo before-$((6 * 7))"}
  - {name: cycle, hosts: h02, power: cycle}
  - {name: after, hosts: h02, run: "echo after-$((6 * 7))"}
""")
    runs.apply(book, lab)
    before = runs.status()
    _, report = runs.apply(book, lab)
    after = runs.status()
    before_step, cycle, after_step = (s["results"] for s in report["steps"])
    assert cycle["h02"]["status"] == "success", cycle["h02"]
    assert state.read_text() == "running\n"
    assert "after-42" in after_step["h02"]["output"], after_step["h02"]
    assert "before-42" in before_step["h01"]["output"]
    # h02's kept connection was dropped by the power action and opened again for `after`;
    # h01 (the controller) kept its own
    assert after["opened"] == before["opened"] + 1, (before, after)
    assert len(after["connections"]) == 2
