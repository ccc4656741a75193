"""`runbook power` interrupted: a real process gets SIGTERM or SIGINT mid-command.

(The command's other behaviour is tested in tests/power/test_power_cmd.py.)
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sshlab import SshdLab

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 30.0


def marker_pids(marker: str) -> list[str]:
    """Pids whose command line contains `marker` (the controller's shell and its sleep)."""
    found = subprocess.run(["pgrep", "-f", marker], check=False, capture_output=True, text=True)
    return found.stdout.split()


def poll(condition: str, check: Callable[[], bool], deadline: float = DEADLINE) -> None:
    """Wait until `check()` is true; fail naming `condition` when the deadline passes."""
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting until {condition}")
        time.sleep(0.05)


def unique_sleep() -> str:
    """`sleep 41.<nonce>`: a unique argv, so pgrep finds exactly this test's sleep (and sh)."""
    return f"sleep 41.{secrets.randbelow(10**9):09d}"


def controller(on_cmd: str, **extra: str) -> dict[str, Any]:
    return {"type": "command", "on_cmd": on_cmd, "off_cmd": "true", **extra}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_cancels_the_controller_command_and_exits_130(tmp_path: Path,
                                                             sig: signal.Signals) -> None:
    marker = unique_sleep()
    lab = tmp_path / "lab.yml"
    lab.write_text(yaml.safe_dump({"hosts": {
        "slow1": {"power_control": controller(f"{marker}; echo done")},
        "fast1": {"power_control": controller("echo switched")},
    }}))
    interrupt_power(tmp_path, lab, sig, marker)


def test_sigterm_kills_the_command_on_a_controller_host(sshd_lab: SshdLab,
                                                        tmp_path: Path) -> None:
    """The controller is an SSH lab host: its command dies there when runbook closes it."""
    marker = unique_sleep()
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", ["h01"], extra={"hosts": {
        "slow1": {"address": "192.0.2.1",
                  "power_control": controller(f"{marker}; echo done", controller="h01")},
        "fast1": {"address": "192.0.2.2",
                  "power_control": controller("echo switched", controller="h01")},
    }})
    interrupt_power(tmp_path, lab, signal.SIGTERM, marker)


def interrupt_power(tmp_path: Path, lab: Path, sig: signal.Signals, marker: str) -> None:
    """Run `runbook power ^(slow1|fast1)$ on`, signal it once slow1's `marker` command runs; check all."""
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RUNBOOK_LAB", None)
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "runbook", "power", "^(slow1|fast1)$", "on",
                                 "--lab", str(lab)], cwd=tmp_path, env=env,
                                stdout=stdout, stderr=stderr)
        try:
            poll("the slow controller command runs and fast1 finished",
                 lambda: (proc.poll() is None and len(marker_pids(marker)) >= 2
                          and "fast1" in out.read_text()))
            proc.send_signal(sig)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    lines = out.read_text().splitlines()
    assert proc.returncode == 130, out.read_text() + err.read_text()
    assert lines[0].split() == ["fast1", "on", "ok", "switched"]
    assert lines[1].split()[:3] == ["slow1", "on", "INTERRUPTED"]
    assert "power state unknown" in lines[1] and "runbook power '^slow1$' status" in lines[1]
    assert len(lines) == 2
    errors = err.read_text()
    assert f"{sig.name}: stopping" in errors and "interrupted: 1 of 2 hosts finished" in errors
    assert "Traceback" not in errors
    poll("no controller command is left", lambda: marker_pids(marker) == [], deadline=10)
