"""CommandPowerController running its commands on this machine (controller=None)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from runbook.errors import PowerError
from runbook.hosts.lab import Lab
from runbook.hosts.local import LocalHost
from runbook.power import CommandPowerController, PowerState
from runbook.power.command import run_local
from runbook.results import Status
from tests.test_apply_sshd import marker_pids


def switch(tmp_path: Path, **overrides: object) -> CommandPowerController:
    """A controller whose commands log `action name ip id time_ns` and flip a state file."""
    log, state = tmp_path / "log", tmp_path / "state"
    settings: dict[str, object] = {
        "on_cmd": f"echo on {{name}} {{ip}} {{id}} $(date +%s%N) >> {log} && "
                  f"echo powered-on > {state}",
        "off_cmd": f"echo off {{name}} {{ip}} {{id}} $(date +%s%N) >> {log} && "
                   f"echo powered-off > {state}",
        "status_cmd": f"cat {state}",
        "status_on": "powered-on",
        "cycle_delay": 0.3,
    }
    settings.update(overrides)
    return CommandPowerController(**settings)  # type: ignore[arg-type]


def log_lines(tmp_path: Path) -> list[list[str]]:
    return [line.split() for line in (tmp_path / "log").read_text().splitlines()]


def target(controller: CommandPowerController, host_id: str = "web1") -> LocalHost:
    host = LocalHost(host_id, power_control=controller)
    Lab([host])
    return host


def test_on_off_render_name_ip_id_and_flip_state(tmp_path: Path) -> None:
    host = target(switch(tmp_path))

    async def scenario() -> tuple[tuple[Status, str], PowerState | None, tuple[Status, str],
                                  PowerState | None]:
        on = await host.power("on")
        after_on = await host.power_status()
        off = await host.power("off")
        after_off = await host.power_status()
        await host.close()
        return on, after_on, off, after_off

    on, after_on, off, after_off = asyncio.run(scenario())
    assert on[0] is Status.Success and off[0] is Status.Success
    assert (after_on, after_off) == (PowerState.ON, PowerState.OFF)
    assert [line[:4] for line in log_lines(tmp_path)] == [
        ["on", "web1", "localhost", "web1"], ["off", "web1", "localhost", "web1"]]


def test_cycle_is_off_then_delay_then_on(tmp_path: Path) -> None:
    host = target(switch(tmp_path, cycle_delay=0.4))
    status, message = asyncio.run(host.power("cycle"))
    assert status is Status.Success, message
    (off, *_, off_ns), (on, *_, on_ns) = log_lines(tmp_path)
    assert (off, on) == ("off", "on")
    assert int(on_ns) - int(off_ns) >= 0.4e9


def test_cycle_stops_when_off_fails(tmp_path: Path) -> None:
    host = target(switch(tmp_path, off_cmd="echo breaker stuck; exit 3"))
    status, message = asyncio.run(host.power("cycle"))
    assert status is Status.Failed
    assert "off failed" in message and "exited 3" in message and "breaker stuck" in message
    assert not (tmp_path / "log").exists()  # on never ran


def test_failed_on_reports_exit_code_and_output(tmp_path: Path) -> None:
    host = target(switch(tmp_path, on_cmd="echo no such domain {name} >&2; exit 1"))
    status, message = asyncio.run(host.power("on"))
    assert status is Status.Failed
    assert "exited 1" in message and "no such domain web1" in message


def test_status_by_exit_code(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    host = target(switch(tmp_path, status_cmd=f"test -e {flag}", status_on=""))
    assert asyncio.run(host.power_status()) is PowerState.OFF
    flag.touch()
    assert asyncio.run(host.power_status()) is PowerState.ON


@pytest.mark.parametrize("status_cmd", ["no-such-power-tool {name}", "/etc/hostname"])
@pytest.mark.parametrize("status_on", ["", "powered-on"])
def test_status_command_that_cannot_run_is_an_error(tmp_path: Path, status_cmd: str,
                                                    status_on: str) -> None:
    host = target(switch(tmp_path, status_cmd=status_cmd, status_on=status_on))
    with pytest.raises(PowerError, match=r"could not run .*exit 12[67]"):
        asyncio.run(host.power_status())


def test_status_text_mode_fails_on_nonzero_exit(tmp_path: Path) -> None:
    """With status_on set, a failing status command is not silently OFF."""
    host = target(switch(tmp_path))  # state file does not exist yet: cat fails
    with pytest.raises(PowerError, match=r"status command failed .*exit 1"):
        asyncio.run(host.power_status())


def test_status_timeout_is_an_error(tmp_path: Path) -> None:
    host = target(switch(tmp_path, status_cmd="sleep 30", timeout=0.5))
    with pytest.raises(PowerError, match=r"timed out after 0\.5s"):
        asyncio.run(host.power_status())


def test_on_timeout_is_an_error_status(tmp_path: Path) -> None:
    host = target(switch(tmp_path, on_cmd="sleep 30", timeout=0.5))
    status, message = asyncio.run(host.power("on"))
    assert status is Status.Error and "timed out" in message


def test_no_status_cmd_means_unknown(tmp_path: Path) -> None:
    host = target(switch(tmp_path, status_cmd=None))
    assert asyncio.run(host.power_status()) is None


def test_describe_shows_rendered_commands_and_where(tmp_path: Path) -> None:
    controller = switch(tmp_path, cycle_delay=5)
    host = target(controller)
    on = controller.describe(host, "on")
    assert on.startswith("run on this machine: echo on web1 localhost web1")
    assert "status" not in on
    assert "ON when output contains 'powered-on'" in controller.describe(host, "status")
    cycle = controller.describe(host, "cycle")
    assert cycle.index("echo off") < cycle.index("wait 5s") < cycle.index("echo on")


def test_a_controller_host_needs_the_target_to_be_in_a_lab() -> None:
    host = LocalHost("web1", power_control=CommandPowerController("on", "off", "st",
                                                                   controller="hv1"))
    status, message = asyncio.run(host.power("off"))
    assert status is Status.Error
    assert "controller 'hv1' cannot be found because the host is not part of a lab" in message


def sleep_pids(marker: str) -> list[str]:
    """The sleep holding `marker` and the rest of its process group (the shell)."""
    return marker_pids(marker)


def group_pids(pgid: int) -> list[str]:
    found = subprocess.run(["pgrep", "-g", str(pgid)], check=False, capture_output=True,
                           text=True)
    return found.stdout.split()


def wait_gone(marker: str, deadline_s: float = 10.0) -> list[str]:
    deadline = time.monotonic() + deadline_s
    while sleep_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return sleep_pids(marker)


@pytest.mark.parametrize("ticks", [*range(12), "running"])
def test_cancelling_a_command_kills_its_whole_process_group(ticks: int | str) -> None:
    """Cancelled at any moment (while asyncio still connects the pipes, too: `ticks` loop
    iterations after the start), neither the shell nor the `sleep` it started survive."""
    marker = f"sleep 41.{secrets.randbelow(10**9):09d}"

    async def scenario() -> None:
        task = asyncio.create_task(run_local(f"{marker}; echo done", timeout=60))
        if ticks == "running":
            deadline = time.monotonic() + 10
            while len(sleep_pids(marker)) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert len(sleep_pids(marker)) == 2  # the shell and its sleep
            groups.update(os.getpgid(int(p)) for p in sleep_pids(marker))
        else:
            for _ in range(int(ticks)):
                await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    groups: set[int] = set()
    asyncio.run(scenario())
    assert wait_gone(marker) == []
    deadline = time.monotonic() + 10  # a killed child may show until init reaps it
    while [p for g in groups for p in group_pids(g)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for g in groups for p in group_pids(g)] == []


def test_a_shell_command_is_in_no_process_list(tmp_path: Path) -> None:
    """`on_cmd: "pdu --password {{ secret('PDU') }} on 3"` ran as `sh -c CMD`: the rendered
    secret was in every user's `ps`."""
    token = f"tok{secrets.token_hex(8)}"
    started = tmp_path / "started"

    def command_lines() -> list[bytes]:
        lines = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with contextlib.suppress(OSError):
                lines.append(cmdline.read_bytes())
        return lines

    async def scenario() -> tuple[list[bytes], str]:
        task = asyncio.create_task(run_local(
            f"X={token}; touch {started}; sleep 1; echo \"$X\"; cat", timeout=30))
        seen: list[bytes] = []
        while not task.done():
            if started.exists():
                seen += [line for line in command_lines() if token.encode() in line]
            await asyncio.sleep(0.02)
        return seen, task.result().output

    seen, output = asyncio.run(scenario())
    assert seen == [] and started.exists()
    assert output == f"{token}\n"  # and stdin is empty for the command, as before
