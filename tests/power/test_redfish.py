"""The `redfish` controller against sushy-tools' Redfish emulator (fake driver) on loopback.

The fake driver applies a power change 1-11 s after accepting it, like a real BMC that answers
before the chassis has switched, so the tests poll PowerState with a deadline.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runbook.errors import PowerError
from runbook.hosts.lab import Lab
from runbook.hosts.local import LocalHost
from runbook.power import PowerSpecError, PowerState, power_control_from_spec
from runbook.power.redfish import RedfishPowerController
from runbook.results import Status
from tests.power.helpers import require_tool

READY_TIMEOUT = 30.0
SETTLE_TIMEOUT = 20.0  # the fake driver applies a change within 11 s
USER, PASSWORD = "admin", "redfish-pw"
UUID_A = "11111111-2222-3333-4444-555555555555"
UUID_B = "66666666-7777-8888-9999-000000000000"


@dataclass
class Emulator:
    url: str
    cert: Path | None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(tmp_path: Path, *, systems: list[str] | None = None,
                   tls: bool = False) -> tuple[subprocess.Popen[bytes], Emulator]:
    require_tool(importlib.util.find_spec("sushy_tools") is not None,
                 "sushy-tools not installed; pip install -e '.[test]'")
    import bcrypt

    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"{USER}:{hashed}\n")
    config = [f"SUSHY_EMULATOR_AUTH_FILE = {str(htpasswd)!r}",
              f"SUSHY_EMULATOR_STATE_DIR = {str(tmp_path / 'state')!r}",
              "SUSHY_EMULATOR_FAKE_DRIVER = True"]
    if systems is not None:
        config.append("SUSHY_EMULATOR_FAKE_SYSTEMS = " + repr([
            {"uuid": uuid, "name": f"sys{i}", "power_state": "Off", "nics": []}
            for i, uuid in enumerate(systems)]))
    cert = None
    if tls:
        require_tool(shutil.which("openssl") is not None, "openssl not installed")
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True,
                       capture_output=True)
        config += [f"SUSHY_EMULATOR_SSL_CERT = {str(cert)!r}",
                   f"SUSHY_EMULATOR_SSL_KEY = {str(key)!r}"]
    conf_file = tmp_path / "emulator.conf"
    conf_file.write_text("\n".join(config) + "\n")
    port = free_port()
    log = (tmp_path / "emulator.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "sushy_tools.emulator.main", "--config",
                             str(conf_file), "-i", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(f"{url}/redfish/v1", timeout=2,
                                        context=insecure if tls else None):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("sushy-emulator did not come up:\n"
                            + (tmp_path / "emulator.log").read_text())
            time.sleep(0.1)
    return proc, Emulator(url, cert)


@pytest.fixture
def emulator_factory(tmp_path_factory: pytest.TempPathFactory,
                     ) -> Iterator[Callable[..., Emulator]]:
    procs: list[subprocess.Popen[bytes]] = []

    def make(**kwargs: Any) -> Emulator:
        proc, emulator = start_emulator(tmp_path_factory.mktemp("redfish"), **kwargs)
        procs.append(proc)
        return emulator

    yield make
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    return emulator_factory()


def node(spec: dict[str, Any]) -> LocalHost:
    built = power_control_from_spec({"type": "redfish", "username": USER, "password": PASSWORD,
                                     **spec}, "node9")
    assert isinstance(built, RedfishPowerController)
    host = LocalHost("node9", power_control=built)
    Lab([host])
    return host


async def settle(host: LocalHost, want: PowerState) -> PowerState | None:
    """Poll power_status until it is `want` or SETTLE_TIMEOUT passes; the last state seen."""
    deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT
    while (state := await host.power_status()) is not want:
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.25)
    return state


def test_on_then_off_with_the_single_system_found(emulator: Emulator) -> None:
    host = node({"url": emulator.url})

    async def scenario() -> list[Any]:
        seen: list[Any] = [await host.power_status(), await host.power("on")]
        seen.append(await settle(host, PowerState.ON))
        seen.append(await host.power("off"))
        seen.append(await settle(host, PowerState.OFF))
        return seen

    before, on, after_on, off, after_off = asyncio.run(scenario())
    assert before is PowerState.OFF
    assert on == (Status.Success, f"ResetType On accepted by {emulator.url}")
    assert after_on is PowerState.ON
    assert off[0] is Status.Success and "ForceOff" in off[1]
    assert after_off is PowerState.OFF


def test_cycle_falls_back_to_off_wait_on_without_powercycle(emulator: Emulator) -> None:
    """The emulator does not allow ResetType PowerCycle, so cycle confirms Off, then On."""
    host = node({"url": emulator.url, "system_id": "27946b59-9e44-4fa7-8e91-f3527a1ef094",
                 "cycle_delay": 0.2})

    async def scenario() -> tuple[tuple[Status, str], PowerState | None]:
        assert (await host.power("on"))[0] is Status.Success
        assert await settle(host, PowerState.ON) is PowerState.ON
        result = await host.power("cycle")
        return result, await settle(host, PowerState.ON)

    (status, message), final = asyncio.run(scenario())
    assert status is Status.Success, message
    assert message.startswith("ForceOff, off confirmed, 0.2s pause, On")
    assert final is PowerState.ON


def test_several_systems_need_system_id(emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory(systems=[UUID_A, UUID_B])
    with pytest.raises(PowerError, match=rf"2 systems \({UUID_A}, {UUID_B}\); set `system_id`"):
        asyncio.run(node({"url": emulator.url}).power_status())
    assert asyncio.run(node({"url": emulator.url, "system_id": UUID_B}).power_status()) \
        is PowerState.OFF


def test_unknown_system_id_is_reported(emulator: Emulator) -> None:
    host = node({"url": emulator.url, "system_id": "nope"})
    with pytest.raises(PowerError, match="HTTP 404"):
        asyncio.run(host.power_status())
    status, message = asyncio.run(host.power("on"))
    assert status is Status.Error and "HTTP 404" in message


def test_wrong_password_is_an_auth_error_without_the_password(emulator: Emulator) -> None:
    host = node({"url": emulator.url, "password": "wrong-pw"})
    status, message = asyncio.run(host.power("on"))
    assert status is Status.Error
    assert "HTTP 401" in message and "check username and password" in message
    assert "wrong-pw" not in message


def test_unreachable_bmc_is_an_error() -> None:
    host = node({"url": f"http://127.0.0.1:{free_port()}", "timeout": 3})
    status, message = asyncio.run(host.power("off"))
    assert status is Status.Error and "not reachable" in message
    with pytest.raises(PowerError, match="not reachable"):
        asyncio.run(host.power_status())


def test_tls_is_verified_by_default(emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory(tls=True)
    with pytest.raises(PowerError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(node({"url": emulator.url}).power_status())
    assert asyncio.run(node({"url": emulator.url, "verify_tls": False}).power_status()) \
        is PowerState.OFF
    assert asyncio.run(node({"url": emulator.url, "ca_file": str(emulator.cert)}).power_status()) \
        is PowerState.OFF


def test_describe_names_the_request_but_not_the_password() -> None:
    host = node({"url": "https://bmc9.lab/", "system_id": "System.Embedded.1"})
    assert host.power_control is not None
    text = host.power_control.describe(host, "on")
    assert text == ("POST https://bmc9.lab/redfish/v1/Systems/System.Embedded.1/Actions/"
                    "ComputerSystem.Reset ResetType=On as 'admin'")
    assert PASSWORD not in host.power_control.describe(host, "cycle")


@pytest.mark.parametrize(("spec", "key", "text"), [
    ({"url": "https://[::1"}, "url", "must be an http:// or https:// URL with a host"),
    ({"url": "https://"}, "url", "must be an http:// or https:// URL with a host"),
    ({"url": "https://bmc", "ca_file": "/nonexistent/ca.pem"}, "ca_file",
     "CA file '/nonexistent/ca.pem' does not exist"),
    ({"url": "https://bmc", "ca_file": "~no_such_user_rb/ca.pem"}, "ca_file",
     "CA file '~no_such_user_rb/ca.pem' does not exist"),
])
def test_bad_url_or_ca_file_is_a_spec_error_not_a_runtime_crash(
        spec: dict[str, Any], key: str, text: str) -> None:
    with pytest.raises(PowerSpecError, match=re.escape(text)) as info:
        RedfishPowerController(username="u", password="p", **spec)
    assert info.value.key == key
