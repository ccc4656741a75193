"""`wait_for` through `runbook apply` against the real sshd lab: a port that opens later, a file
that appears, and waits that time out."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.sshlab import SshdLab

REPO = Path(__file__).resolve().parent.parent.parent
#: The listener / the file appear this long after the run started (the scenario, not a wait).
LATER = 2.0


def apply(tmp_path: Path, lab: Path, book: str) -> tuple[subprocess.CompletedProcess[str],
                                                          dict[str, Any]]:
    path = tmp_path / f"book-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(book)
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "runbook", "apply", str(path), "--lab", str(lab),
                           "--report-json", str(report)], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert report.exists(), proc.stdout + proc.stderr
    data: dict[str, Any] = json.loads(report.read_text())
    jsonschema.validate(data, json.loads((REPO / "schemas" / "report.schema.json").read_text()))
    return proc, data


def _free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def later_listener(sshd_lab: SshdLab) -> Iterator[tuple[str, int]]:
    """(address, port) of h01 where a TCP listener opens LATER seconds from now."""
    address = sshd_lab.address_of("h01")
    port = _free_port(address)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def listen() -> None:
        server.bind((address, port))
        server.listen(8)

    timer = threading.Timer(LATER, listen)
    timer.start()
    yield address, port
    timer.cancel()
    server.close()


def test_wait_for_a_port_that_opens_and_a_file_that_appears(
        sshd_lab: SshdLab, tmp_path: Path, later_listener: tuple[str, int]) -> None:
    _, port = later_listener
    ready = tmp_path / "remote" / "app.ready"
    ready.parent.mkdir()
    ready.parent.chmod(0o777)
    writer = threading.Timer(LATER, lambda: ready.write_text("starting\nok: ready\n"))
    writer.start()
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01", "h02"])
    book = f"""
name: waits
steps:
  - name: the port opens
    hosts: h01
    wait_for: {{port: {port}, state: started, timeout: 60}}
    register: up
  - name: the file appears with its line
    hosts: h0[12]
    wait_for: {{path: {ready}, contains: "^ok", timeout: 60}}
    register: file
  - name: elapsed is registered
    hosts: h01
    oneshot: "echo {{{{ up.elapsed > 0 }}}} {{{{ file.elapsed >= 0 }}}}"
"""
    try:
        proc, report = apply(tmp_path, lab, book)
    finally:
        writer.cancel()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = report["steps"]
    assert steps[0]["results"]["h01"]["status"] == "success"
    assert f":{port} started after" in steps[0]["results"]["h01"]["output"]
    assert {h: r["status"] for h, r in steps[1]["results"].items()} == {
        "h01": "success", "h02": "success"}
    assert steps[2]["results"]["h01"]["output"] == "True True\n"


def test_waits_that_time_out_fail_the_host_saying_what_and_how_long(
        sshd_lab: SshdLab, tmp_path: Path) -> None:
    address = sshd_lab.address_of("h01")
    closed = _free_port(address)
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01", "h02", "h03"])
    book = f"""
name: timeouts
steps:
  - {{name: never opens, hosts: h01, wait_for: {{port: {closed}, timeout: 2}},
      ignore_errors: true}}
  - {{name: never appears, hosts: h02, wait_for: {{path: /nonexistent/{uuid.uuid4().hex},
      timeout: 2}}, ignore_errors: true}}
  - {{name: never passes, hosts: h03, wait_for: {{command: "test -e /nonexistent", timeout: 2}},
      ignore_errors: true}}
  - {{name: sshd stops, hosts: h01, wait_for: {{port: {sshd_lab.port}, state: stopped,
      timeout: 2}}, ignore_errors: true}}
"""
    proc, report = apply(tmp_path, lab, book)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # all ignored
    messages = [next(iter(s["results"].values()))["message"] for s in report["steps"]]
    statuses = [next(iter(s["results"].values()))["status"] for s in report["steps"]]
    assert statuses == ["failed"] * 4
    assert f"waiting for port {address}:{closed} to be started" in messages[0]
    assert "connection refused" in messages[0] and "timed out after 2" in messages[0]
    assert "waiting for path /nonexistent/" in messages[1] and "to be present" in messages[1]
    assert "waiting for command 'test -e /nonexistent' to exit 0" in messages[2]
    assert "last exit status 1" in messages[2]
    assert f"port {address}:{sshd_lab.port} to be stopped" in messages[3]
