"""The Host power API (`runbook.hosts.power_mixin.PowerMixin`) on local and real-sshd hosts.

The "machine" whose power is switched is an sshd of its own (SshdLab) that a test controller
stops and starts, so reachability, waiting and reconnecting are checked against real SSH.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from runbook.errors import PowerError
from runbook.hosts.lab import Lab
from runbook.hosts.local import LocalHost
from runbook.hosts.ssh import RemoteHost
from runbook.power import CommandPowerController, PowerController, PowerState
from runbook.results import Status
from tests.sshlab import SshdLab


class SshdSwitch(PowerController):
    """Power for a 'machine' that is an SshdLab: off kills sshd and its sessions, on starts it."""

    type_name: ClassVar[str] = "sshd-switch"

    def __init__(self, lab: SshdLab, *, cycle_delay: float = 0.2) -> None:
        super().__init__(cycle_delay=cycle_delay)
        self.lab = lab
        self.actions: list[str] = []

    async def on(self, host: Any) -> tuple[Status, str]:
        self.actions.append("on")
        if not self.lab.running:
            await asyncio.to_thread(self.lab.start)
        return Status.Success, "sshd started"

    async def off(self, host: Any) -> tuple[Status, str]:
        self.actions.append("off")
        await asyncio.to_thread(self.lab.stop)
        return Status.Success, "sshd stopped"

    async def status(self, host: Any) -> PowerState | None:
        return PowerState.ON if self.lab.running else PowerState.OFF


@pytest.fixture
def machine(sshd_binary: Path) -> Iterator[SshdLab]:
    """A one-host sshd lab of this test's own, so stopping it disturbs no other test."""
    with SshdLab(n_hosts=1) as lab:
        yield lab


def remote(lab: SshdLab, **kwargs: Any) -> Any:
    host = RemoteHost("box", lab.addresses[0], port=lab.port, user=lab.user,
                             key=lab.client_key, known_hosts=lab.known_hosts, agent=False,
                             connect_timeout=3.0, **kwargs)
    Lab([host])
    return host


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_power_without_power_control_names_host_and_fix() -> None:
    host = LocalHost("web1")
    with pytest.raises(PowerError, match=r"host 'web1' has no power control: add a "
                                         r"`power_control` entry"):
        asyncio.run(host.power("on"))
    with pytest.raises(PowerError, match="host 'web1' has no power control"):
        asyncio.run(host.power_status())


def test_unknown_action_is_refused() -> None:
    host = LocalHost("web1", power_control=CommandPowerController("true", "true"))
    with pytest.raises(PowerError, match="unknown power action 'reboot'"):
        asyncio.run(host.power("reboot"))


@pytest.mark.parametrize("on_cmd", ["true", "exit 4"])
def test_power_drops_the_persistent_shell(on_cmd: str) -> None:
    host = LocalHost("web1", power_control=CommandPowerController(on_cmd, "true"))

    async def scenario() -> tuple[str, Status, str]:
        try:
            before = (await host.run("echo $$")).output
            status, _ = await host.power("on")
            return before, status, (await host.run("echo $$")).output
        finally:
            await host.close()

    before, status, after = asyncio.run(scenario())
    assert status is (Status.Success if on_cmd == "true" else Status.Failed)
    assert before.strip().isdigit() and after.strip().isdigit() and before != after


def test_is_reachable() -> None:
    local = LocalHost("local")
    refused = RemoteHost("gone", "127.0.0.1", port=closed_port(), connect_timeout=2,
                                agent=False)
    assert asyncio.run(local.is_reachable()) is True
    assert asyncio.run(refused.is_reachable()) is False
    assert asyncio.run(refused.wait_until_down(5)) is True
    assert asyncio.run(refused.wait_until_up(1.5)) is False


def test_power_off_wait_down_then_on_wait_up_reconnects(machine: SshdLab) -> None:
    switch = SshdSwitch(machine)
    host = remote(machine, power_control=switch)

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {"pid_before": (await host.run("echo $$")).output}
        seen["off"] = await host.power("off")
        seen["down"] = await host.wait_until_down(10)
        seen["reachable_when_off"] = await host.is_reachable()
        seen["up_while_off"] = await host.wait_until_up(1.5)
        seen["status_off"] = await host.power_status()
        seen["on"] = await host.power("on")
        seen["up"] = await host.wait_until_up(20)
        seen["pid_after"] = (await host.run("echo $$")).output
        await host.close()
        return seen

    seen = asyncio.run(scenario())
    assert seen["off"] == (Status.Success, "sshd stopped") and seen["down"] is True
    assert seen["reachable_when_off"] is False and seen["up_while_off"] is False
    assert seen["status_off"] is PowerState.OFF
    assert seen["on"][0] is Status.Success and seen["up"] is True
    assert seen["pid_after"].strip().isdigit() and seen["pid_after"] != seen["pid_before"]
    assert switch.actions == ["off", "on"]


def test_cycle_then_wait_up(machine: SshdLab) -> None:
    switch = SshdSwitch(machine)
    host = remote(machine, power_control=switch)

    async def scenario() -> tuple[tuple[Status, str], bool, str]:
        result = await host.power("cycle")
        up = await host.wait_until_up(20)
        out = (await host.run("echo alive")).output
        await host.close()
        return result, up, out

    (status, message), up, out = asyncio.run(scenario())
    assert status is Status.Success and message == "off: sshd stopped; on: sshd started"
    assert up is True and out == "alive\n"
    assert switch.actions == ["off", "on"]


def test_wait_until_up_sees_a_host_that_comes_back_while_waiting(machine: SshdLab) -> None:
    host = remote(machine)
    machine.stop()

    async def scenario() -> bool:
        waiting = asyncio.create_task(host.wait_until_up(30))
        await asyncio.to_thread(machine.start)
        came_up = await waiting
        await host.close()
        return came_up

    assert asyncio.run(scenario()) is True
