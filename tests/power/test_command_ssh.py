"""CommandPowerController whose commands run on an SSH controller host of the sshd test lab."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runbook.errors import PowerError
from runbook.hosts.lab import Lab
from runbook.hosts.local import LocalHost
from runbook.hosts.ssh import RemoteHost
from runbook.power import CommandPowerController, PowerState, power_control_from_spec
from runbook.results import Status

Factory = Callable[..., Any]


def make_lab(ssh_host_factory: Factory, spec: dict[str, Any]) -> tuple[Lab, Any]:
    """A lab of `hv1` (SSH controller, lab host h01) and `web1`, powered through `hv1`."""
    controller = ssh_host_factory(0, id="hv1")
    target = LocalHost("web1", power_control=power_control_from_spec(spec, "web1"))
    return Lab([controller, target]), target


def spec_for(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    log, state = tmp_path / "log", tmp_path / "state"
    spec = {
        "type": "command", "controller": "hv1", "cycle_delay": 0.3,
        "on_cmd": f"echo on {{name}} $(date +%s%N) $SSH_CONNECTION >> {log}; "
                  f"echo running > {state}",
        "off_cmd": f"echo off {{name}} $(date +%s%N) $SSH_CONNECTION >> {log}; "
                   f"echo shut off > {state}",
        "status_cmd": f"cat {state}", "status_on": "running",
    }
    spec.update(overrides)
    return spec


def test_on_off_cycle_run_on_the_controller_in_order(ssh_host_factory: Factory,
                                                     tmp_path: Path) -> None:
    lab, web1 = make_lab(ssh_host_factory, spec_for(tmp_path))

    async def scenario() -> list[Any]:
        try:
            return [await web1.power("on"), await web1.power_status(),
                    await web1.power("off"), await web1.power_status(),
                    await web1.power("cycle"), await web1.power_status()]
        finally:
            await lab.close()

    on, on_state, off, off_state, cycle, cycle_state = asyncio.run(scenario())
    assert [on[0], off[0], cycle[0]] == [Status.Success] * 3
    assert (on_state, off_state, cycle_state) == (PowerState.ON, PowerState.OFF, PowerState.ON)
    lines = [line.split() for line in (tmp_path / "log").read_text().splitlines()]
    assert [line[:2] for line in lines] == [["on", "web1"], ["off", "web1"], ["off", "web1"],
                                           ["on", "web1"]]
    # $SSH_CONNECTION is set: the commands really ran through sshd, on hv1's address.
    assert all(line[5] == lab["hv1"].address for line in lines)
    assert int(lines[3][2]) - int(lines[2][2]) >= 0.3e9


def test_status_by_exit_code_on_the_controller(ssh_host_factory: Factory,
                                               tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    lab, web1 = make_lab(ssh_host_factory,
                         spec_for(tmp_path, status_cmd=f"test -e {flag}", status_on=""))

    async def scenario() -> tuple[PowerState | None, PowerState | None]:
        try:
            before = await web1.power_status()
            flag.touch()
            return before, await web1.power_status()
        finally:
            await lab.close()

    assert asyncio.run(scenario()) == (PowerState.OFF, PowerState.ON)


@pytest.mark.parametrize("status_on", ["", "running"])
def test_missing_status_command_on_the_controller_is_an_error(
        ssh_host_factory: Factory, tmp_path: Path, status_on: str) -> None:
    lab, web1 = make_lab(ssh_host_factory, spec_for(
        tmp_path, status_cmd="virsh-not-installed domstate {name}", status_on=status_on))

    async def scenario() -> None:
        try:
            await web1.power_status()
        finally:
            await lab.close()

    with pytest.raises(PowerError, match=r"could not run \(run on controller 'hv1'.*exit 127"):
        asyncio.run(scenario())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_controller(tmp_path: Path) -> None:
    controller = RemoteHost("hv1", "127.0.0.1", port=closed_port(), connect_timeout=3,
                                   agent=False)
    web1 = LocalHost("web1", power_control=power_control_from_spec(
        spec_for(tmp_path), "web1"))
    lab = Lab([controller, web1])

    async def scenario() -> tuple[Status, str]:
        try:
            result = await web1.power("cycle")
            with pytest.raises(PowerError, match=r"controller host 'hv1' .* is unreachable"):
                await web1.power_status()
            return result
        finally:
            await lab.close()

    status, message = asyncio.run(scenario())
    assert status is Status.Error
    assert "cycle stopped, off failed" in message and "unreachable" in message
    assert not (tmp_path / "log").exists()


def test_controller_missing_from_the_lab() -> None:
    web1 = LocalHost("web1", power_control=CommandPowerController(
        "on {name}", "off {name}", "st {name}", controller="hv9"))
    Lab([web1])
    status, message = asyncio.run(web1.power("on"))
    assert status is Status.Error and "controller host 'hv9' is not in the lab" in message
    with pytest.raises(PowerError, match="'hv9' is not in the lab"):
        asyncio.run(web1.power_status())


def test_describe_names_the_controller_and_its_address(ssh_host_factory: Factory,
                                                       tmp_path: Path) -> None:
    lab, web1 = make_lab(ssh_host_factory, spec_for(tmp_path))
    text = web1.power_control.describe(web1, "off")
    assert text.startswith(f"run on controller 'hv1' ({lab['hv1'].address}): echo off web1 ")
