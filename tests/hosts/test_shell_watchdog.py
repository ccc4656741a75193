"""The watchdog of remote shells and oneshots (`WATCHDOG` in runbook/hosts/shell.py), on the
real sshd lab: `runbook apply` killed with `kill -9` leaves no remote command running (its
session ended, so the watchdog kills the command's process group), also under sudo; and a
shell or oneshot that ends normally takes its watchdog with it, while the connection stays."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runbook.hosts.ssh import RemoteHost
from tests.sshlab import SshdLab
from tests.test_apply_sshd import REPO, wait_no_marker

#: Seconds the watchdogs get to clean up (they look every 2 s, then TERM, KILL 2 s later).
CLEANUP_DEADLINE = 20.0


def _book(tmp_path: Path, marker: str, action: str, become: bool) -> Path:
    book = tmp_path / "held.yml"
    book.write_text(f"""
name: held
steps:
  - name: hold
    hosts: "^h0[1-3]$"
    become: {str(become).lower()}
    {action}: sh -c 'sleep 300; true {marker}'
""")
    return book


@pytest.mark.parametrize(("action", "become"), [("run", False), ("oneshot", False),
                                                ("run", True), ("oneshot", True)])
def test_kill_9_of_apply_ends_the_remote_commands(sshd_lab: SshdLab, tmp_path: Path,
                                                  request: pytest.FixtureRequest,
                                                  action: str, become: bool) -> None:
    extra: dict[str, Any] = {}
    if become:  # log in as the NOPASSWD sudo user, become root
        accounts = request.getfixturevalue("sudo_accounts")
        extra = {"defaults": {"user": accounts.nopass, "agent": False}}
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01", "h02", "h03"], extra=extra)
    marker = f"wd-{uuid.uuid4().hex}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook", "apply", str(_book(tmp_path, marker, action, become)),
         "--lab", str(lab)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        deadline = time.monotonic() + 60
        while _held(marker) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, (
                proc.stdout.read() if proc.stdout and proc.poll() is not None else "")
            time.sleep(0.1)
        proc.kill()  # no handler runs: only the hosts can clean up
        proc.communicate(timeout=30)
        assert wait_no_marker(marker, CLEANUP_DEADLINE) == []  # the groups, watchdogs too
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["pkill", "-f", marker], check=False)


def _held(marker: str) -> int:
    """How many `sh -c 'sleep 300; true MARKER'` run (one per host once all are held)."""
    found = subprocess.run(["pgrep", "-f", f"sleep 300; true {marker}"], check=False,
                           capture_output=True, text=True)
    return len(found.stdout.split())


def _group_gone(pgid: int, watchdog: int) -> bool:
    """True once no process of group `pgid` remains (shell, watchdog, its tail) nor `watchdog`."""
    deadline = time.monotonic() + CLEANUP_DEADLINE
    while time.monotonic() < deadline:
        group = subprocess.run(["pgrep", "-g", str(pgid)], check=False, capture_output=True,
                               text=True).stdout.split()
        if not group and not Path(f"/proc/{watchdog}").exists():
            return True
        time.sleep(0.1)
    return False


def test_a_normal_end_leaves_no_watchdog(ssh_host_factory: Callable[..., RemoteHost]) -> None:
    """The shell's exit (here `exit 0` in a step) and a oneshot's end, also one with an EXIT
    trap of its own, stop their watchdogs at once, though the connection, whose end the
    watchdogs wait for, stays open; exit statuses and output are the command's."""
    host = ssh_host_factory(3)
    probe = 'echo "$$ $__runbook_wd"'

    async def scenario() -> list[list[str]]:
        async with host:
            shell = (await host.run(probe)).output.split()
            await host.run("exit 0")
            oneshot = (await host.oneshot(probe)).output.split()
            trapped = await host.oneshot(f"trap 'echo bye' EXIT; {probe}; exit 3")
            assert trapped.retcode == 3 and trapped.output.endswith("\nbye\n"), trapped
            pairs = [shell, oneshot, trapped.output.split()[:2]]
            assert all(len(pair) == 2 for pair in pairs), pairs  # a watchdog was started
            for pgid, watchdog in pairs:
                assert await asyncio.to_thread(_group_gone, int(pgid), int(watchdog)), pairs
            assert (await host.run("echo still connected")).output == "still connected\n"
            return pairs

    asyncio.run(asyncio.wait_for(scenario(), 120))
