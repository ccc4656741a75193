"""`runbook power` interrupted: a real process gets SIGTERM or SIGINT mid-command.

(The command's other behaviour is tested in tests/power/test_power_cmd.py.)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sshlab import SshdLab
from tests.test_apply_sshd import marker_pids

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 30.0


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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_cancels_the_controller_command_and_exits_130(tmp_path: Path,
                                                             sig: signal.Signals) -> None:
    marker = unique_sleep()
    lab = tmp_path / "lab.yml"
    lab.write_text(yaml.safe_dump({"hosts": {
        "slow1": {"power_control": controller(f"{marker}; echo done")},
        "fast1": {"power_control": controller("echo switched")},
    }}))
    interrupt_power(tmp_path, lab, sig, marker)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_kills_the_command_on_a_controller_host(sshd_lab: SshdLab, tmp_path: Path,
                                                        sig: signal.Signals) -> None:
    """The controller is an SSH lab host: its command dies there when runbook closes it."""
    marker = unique_sleep()
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", ["h01"], extra={"hosts": {
        "slow1": {"address": "192.0.2.1",
                  "power_control": controller(f"{marker}; echo done", controller="h01")},
        "fast1": {"address": "192.0.2.2",
                  "power_control": controller("echo switched", controller="h01")},
    }})
    interrupt_power(tmp_path, lab, sig, marker)


def interrupt_power(tmp_path: Path, lab: Path, sig: signal.Signals, marker: str) -> None:
    """Run `runbook power` on slow1 and fast1, signal it once slow1's `marker` command runs
    and fast1 has finished; check the exit, the lines, and that the command is gone."""
    with power_process(tmp_path, lab) as (proc, out, err):
        wait_until_slow_runs(proc, out, marker)
        proc.send_signal(sig)
        proc.wait(timeout=10)
    lines = out.read_text().splitlines()
    assert proc.returncode == 130, out.read_text() + err.read_text()
    assert lines[0].split() == ["fast1", "on", "ok", "switched"]
    assert lines[1].split()[:3] == ["slow1", "on", "INTERRUPTED"]
    assert "power state unknown" in lines[1] and "runbook power '^slow1$' status" in lines[1]
    assert len(lines) == 2
    errors = err.read_text()
    assert f"{sig.name}: stopping" in errors and "interrupted: 1 of 2 hosts finished" in errors
    assert "exiting now" not in errors and "Traceback" not in errors
    poll("no controller command is left", lambda: marker_pids(marker) == [], deadline=10)


@contextlib.contextmanager
def power_process(tmp_path: Path, lab: Path, *args: str,
                  ) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """`runbook power ARGS` (default `^(slow1|fast1)$ on`) as a process writing to files;
    killed if still running at the end."""
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RUNBOOK_LAB", None)
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "runbook", "power",
                                 *(args or ("^(slow1|fast1)$", "on")), "--lab", str(lab)],
                                cwd=tmp_path, env=env, stdout=stdout, stderr=stderr)
        try:
            yield proc, out, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def wait_until_slow_runs(proc: subprocess.Popen[bytes], out: Path, marker: str) -> None:
    poll("the slow controller command runs and fast1 finished",
         lambda: (proc.poll() is None and len(marker_pids(marker)) >= 2
                  and "fast1" in out.read_text()))


def freeze(lab: SshdLab) -> None:
    """SIGSTOP the lab's sshd and its sessions: connections stay open, nothing answers."""
    me, config = str(os.getpid()), str(lab.directory / "sshd_config.0")
    parents: dict[str, list[str]] = {}
    cmdlines: dict[str, str] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            stat = (proc / "stat").read_text()
            parents.setdefault(stat[stat.rfind(")") + 2 :].split()[1], []).append(proc.name)
            cmdlines[proc.name] = (proc / "cmdline").read_bytes().decode(errors="replace")
    frozen = [pid for pid in parents.get(me, []) if config in cmdlines.get(pid, "")]
    assert len(frozen) == 1, f"sshd listener of {lab.directory} not found"
    for pid in frozen:  # parents before children, so none can react to a child's stop
        os.kill(int(pid), signal.SIGSTOP)
        frozen.extend(parents.get(pid, []))


@pytest.fixture
def frozen_controller(sshd_binary: Path,
                      tmp_path: Path) -> Iterator[tuple[SshdLab, Path, str]]:
    """(lab, lab file, marker): a private one-host sshd lab as controller h01 of slow1 (which
    runs the `marker` sleep) and fast1; stopped at the end, which kills it even when frozen."""
    with SshdLab(n_hosts=1) as machine:
        marker = unique_sleep()
        lab = machine.lab_yaml(tmp_path / "lab.yml", extra={"hosts": {
            "slow1": {"address": "192.0.2.1",
                      "power_control": controller(f"{marker}; echo done", controller="h01")},
            "fast1": {"address": "192.0.2.2",
                      "power_control": controller("echo switched", controller="h01")},
        }})
        yield machine, lab, marker


def test_a_second_signal_exits_at_once(frozen_controller: tuple[SshdLab, Path, str],
                                       tmp_path: Path) -> None:
    """The controller host freezes, so closing it waits for its SSH answers (up to the
    host's 3 s kill grace): a second signal does not wait for that (the message says so).
    The 4 s overall bound is tested with runbook.cli.signals itself (tests/cli/test_signals.py)."""
    machine, lab, marker = frozen_controller
    with power_process(tmp_path, lab) as (proc, out, err):
        wait_until_slow_runs(proc, out, marker)
        freeze(machine)
        proc.send_signal(signal.SIGTERM)
        poll("the first signal is acknowledged", lambda: "stopping" in err.read_text())
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    errors = err.read_text()
    assert proc.returncode == 130, out.read_text() + errors
    assert "SIGINT again: exiting now, without waiting for the cleanup" in errors
    lines = out.read_text().splitlines()
    assert lines[0].split() == ["fast1", "on", "ok", "switched"]
    assert lines[1].split()[:3] == ["slow1", "on", "INTERRUPTED"] and len(lines) == 2
    assert "Traceback" not in errors


def test_interrupted_while_waiting_says_the_power_action_was_done(tmp_path: Path) -> None:
    """web1's "SSH port" is a socket of this test: its first connection attempt shows that
    `--wait` is polling, and that is when the signal comes."""
    with socket.socket() as port:
        port.bind(("127.0.0.1", 0))
        port.listen()
        port.settimeout(DEADLINE)
        lab = tmp_path / "lab.yml"
        lab.write_text(yaml.safe_dump({"hosts": {"web1": {
            "address": "127.0.0.1", "port": port.getsockname()[1], "connect_timeout": 2,
            "power_control": controller("echo switched on")}}}))
        with power_process(tmp_path, lab, "web1", "cycle", "--wait", "60") as (proc, out, err):
            probe, _ = port.accept()
            probe.close()
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
    assert proc.returncode == 130, out.read_text() + err.read_text()
    assert out.read_text().split(None, 3) == [
        "web1", "cycle", "INTERRUPTED",
        "power cycle done, interrupted while waiting for it to answer; "
        "check with `runbook power '^web1$' status`\n"]
    assert "interrupted: 0 of 1 hosts finished" in err.read_text()
