"""The `ipmi` controller against a real IPMI 2.0 peer on loopback (tests/power/bmc_sim.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from runbook.errors import PowerError
from runbook.hosts.lab import Lab
from runbook.hosts.local import LocalHost
from runbook.power import PowerState, power_control_from_spec
from runbook.power.ipmi import IpmiPowerController
from runbook.results import Status
from tests.power.helpers import require_tool

SIM = Path(__file__).with_name("bmc_sim.py")
READY_TIMEOUT = 15.0
PASSWORD = "s3cret-pw"


@dataclass
class Bmc:
    port: int
    log: Path

    def actions(self) -> list[tuple[str, int]]:
        if not self.log.exists():
            return []
        return [(a, int(t)) for a, t in (line.split() for line in self.log.read_text().split("\n")
                                         if line)]


@pytest.fixture
def bmc(tmp_path: Path) -> Iterator[Bmc]:
    require_tool(shutil.which("ipmitool") is not None,
                 "ipmitool not installed; run scripts/install-test-deps.sh or apt-get install "
                 "ipmitool")
    require_tool(importlib.util.find_spec("pyghmi") is not None,
                 "pyghmi not installed; pip install -e '.[test]'")
    port_file, log = tmp_path / "bmc.port", tmp_path / "bmc.log"
    proc = subprocess.Popen([sys.executable, str(SIM), str(port_file), str(log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + READY_TIMEOUT
    while not port_file.exists():
        if proc.poll() is not None:
            pytest.fail(f"BMC simulator exited: {proc.stderr.read().decode()}"
                        if proc.stderr else "BMC simulator exited")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("BMC simulator did not start within 15 s")
        time.sleep(0.05)
    try:
        yield Bmc(int(port_file.read_text()), log)
    finally:
        proc.kill()
        proc.wait(timeout=10)


def node(controller: IpmiPowerController) -> LocalHost:
    host = LocalHost("node7", power_control=controller)
    Lab([host])
    return host


def controller_for(bmc: Bmc, **overrides: object) -> IpmiPowerController:
    spec: dict[str, object] = {"type": "ipmi", "address": "127.0.0.1", "port": bmc.port,
                               "user": "admin", "password": PASSWORD, "cycle_delay": 0.3,
                               "timeout": 10}
    spec.update(overrides)
    built = power_control_from_spec(spec, "node7")
    assert isinstance(built, IpmiPowerController)
    return built


def test_on_off_status(bmc: Bmc) -> None:
    host = node(controller_for(bmc))

    async def scenario() -> list[object]:
        seen: list[object] = [await host.power_status()]
        seen.append(await host.power("on"))
        seen.append(await host.power_status())
        seen.append(await host.power("off"))
        seen.append(await host.power_status())
        return seen

    before, on, after_on, off, after_off = asyncio.run(scenario())
    assert (before, after_on, after_off) == (PowerState.OFF, PowerState.ON, PowerState.OFF)
    assert on == (Status.Success, "Chassis Power Control: Up/On")
    assert off[0] is Status.Success  # type: ignore[index]
    assert [a for a, _ in bmc.actions()] == ["on", "off"]


def test_cycle_is_off_delay_on_and_works_from_off(bmc: Bmc) -> None:
    host = node(controller_for(bmc, cycle_delay=0.5))
    status, message = asyncio.run(host.power("cycle"))
    assert status is Status.Success, message
    (off, off_ns), (on, on_ns) = bmc.actions()
    assert (off, on) == ("off", "on")
    assert on_ns - off_ns >= 0.5e9
    assert asyncio.run(host.power_status()) is PowerState.ON


def test_wrong_password_fails_without_leaking_it(bmc: Bmc) -> None:
    host = node(controller_for(bmc, password="not-the-password"))
    status, message = asyncio.run(host.power("on"))
    assert status is Status.Failed
    assert "exited 1" in message and "not-the-password" not in message
    with pytest.raises(PowerError, match="node7"):
        asyncio.run(host.power_status())
    assert bmc.actions() == []


def test_silent_bmc_is_an_error_within_the_timeout() -> None:
    require_tool(shutil.which("ipmitool") is not None, "ipmitool not installed")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as quiet:
        quiet.bind(("127.0.0.1", 0))  # bound but never answers
        spec = {"type": "ipmi", "address": "127.0.0.1", "port": quiet.getsockname()[1],
                "user": "admin", "password": PASSWORD, "timeout": 2, "retries": 0}
        host = node(power_control_from_spec(spec, "node7"))  # type: ignore[arg-type]
        status, message = asyncio.run(host.power("off"))
    assert status in (Status.Failed, Status.Error)
    assert "127.0.0.1" in message


@pytest.mark.parametrize("program", ["missing", "not-a-program"])
def test_unrunnable_ipmitool_is_named(bmc: Bmc, tmp_path: Path, program: str) -> None:
    path = tmp_path / program
    if program == "not-a-program":
        path.write_text("just text\n")
    host = node(controller_for(bmc, ipmitool=str(path)))
    status, message = asyncio.run(host.power("on"))
    assert status is Status.Error
    assert f"'{path}' cannot be run on this machine" in message
    assert "apt install ipmitool" in message
    with pytest.raises(PowerError, match="cannot be run"):
        asyncio.run(host.power_status())


def test_password_stays_out_of_argv_and_describe(bmc: Bmc) -> None:
    controller = controller_for(bmc)
    host = node(controller)
    assert PASSWORD not in " ".join(controller.argv("power", "on"))
    text = controller.describe(host, "cycle")
    assert PASSWORD not in text and PASSWORD not in repr(controller)
    assert f"-H 127.0.0.1 -p {bmc.port}" in text and "power off" in text and "power on" in text


def test_runbook_power_cli_with_a_secret_password(bmc: Bmc, tmp_path: Path) -> None:
    """Lab file -> secret() -> ipmi controller -> real BMC, through `runbook power`."""
    from click.testing import CliRunner

    from runbook.cli.main import cli

    lab = tmp_path / "lab.yml"
    lab.write_text(yaml.safe_dump({"hosts": {"node7": {"address": "127.0.0.1", "power_control": {
        "type": "ipmi", "address": "127.0.0.1", "port": bmc.port, "user": "admin",
        "password": "{{ secret('NODE7_BMC') }}", "timeout": 10}}}}))
    secrets = tmp_path / "secrets.yml"
    secrets.write_text(f"NODE7_BMC: {PASSWORD}\n")
    runner = CliRunner()
    args = ["power", "node7", "--lab", str(lab), "--secrets", str(secrets)]
    on = runner.invoke(cli, [*args[:2], "on", *args[2:]], catch_exceptions=False)
    status = runner.invoke(cli, [*args[:2], "status", *args[2:]], catch_exceptions=False)
    check = runner.invoke(cli, [*args[:2], "off", "--check", *args[2:]], catch_exceptions=False)
    assert (on.exit_code, status.exit_code, check.exit_code) == (0, 0, 0)
    assert on.output.split() == ["node7", "on", "ok", "Chassis", "Power", "Control:", "Up/On"]
    assert status.output.split() == ["node7", "status", "ok", "on"]
    assert f"-p {bmc.port} -N 2 -R 3 -U admin -E power off" in check.output
    assert all(PASSWORD not in r.output for r in (on, status, check))
    assert [a for a, _ in bmc.actions()] == ["on"]
