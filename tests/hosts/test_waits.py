"""`runbook.hosts.waits` against real peers: TCP listeners started later, the sshd lab, sudo."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Callable
from typing import Any

import pytest

from runbook.errors import CommandTimeoutError, WaitTimeoutError
from runbook.hosts.local import LocalHost
from runbook.hosts.ssh import RemoteHost
from runbook.hosts.waits import wait_for_command, wait_for_path, wait_for_port
from tests.sshlab import SshdLab
from tests.sudolab import SudoAccounts

Make = Callable[..., RemoteHost]
#: When the test starts its listener (or removes its file): after the first checks failed.
LATER = 1.5


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_port_that_opens_later() -> None:
    port = _free_port()

    async def scenario() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        servers: list[asyncio.Server] = []

        async def open_later() -> float:
            await asyncio.sleep(LATER)
            servers.append(await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port))
            return loop.time() - started

        opener = asyncio.create_task(open_later())
        elapsed = await wait_for_port(LocalHost(), port, address="127.0.0.1", timeout=30,
                                      interval=0.2)
        opened_at = await opener
        for server in servers:
            server.close()
        return elapsed, opened_at

    elapsed, opened_at = run(scenario())
    assert elapsed >= opened_at - 0.05  # it cannot have connected before the listener existed


def test_port_that_stops_later() -> None:
    async def scenario() -> float:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        asyncio.get_running_loop().call_later(LATER, server.close)
        return await wait_for_port(LocalHost(), port, state="stopped", address="127.0.0.1",
                                   timeout=30, interval=0.2)

    assert run(scenario()) > 0


def test_port_on_the_hosts_own_address(ssh_host_factory: Make, sshd_lab: SshdLab) -> None:
    host = ssh_host_factory(6)
    assert run(wait_for_port(host, sshd_lab.port, timeout=10)) < 10
    assert run(wait_for_port(host, _free_port(), state="stopped", timeout=10)) < 10


def test_port_timeout_says_what_and_how_long() -> None:
    port = _free_port()
    with pytest.raises(WaitTimeoutError) as caught:
        run(wait_for_port(LocalHost("box"), port, address="127.0.0.1", timeout=1.5,
                          interval=0.3))
    message = str(caught.value)
    assert isinstance(caught.value, CommandTimeoutError)
    assert f"port 127.0.0.1:{port} to be started" in message
    assert "'box'" in message and "connection refused" in message
    assert caught.value.elapsed >= 1.5


def test_path_that_appears_and_then_matches(ssh_host_factory: Make) -> None:
    host = ssh_host_factory(6)
    path = f"/tmp/rbwait-{secrets.token_hex(4)}"

    async def scenario() -> tuple[float, float, float]:
        async with host:
            writer = asyncio.create_task(host.oneshot(
                f"sleep {LATER}; echo starting > {path}; sleep {LATER}; echo 'state: ready' >> {path}"))
            present = await wait_for_path(host, path, timeout=30, interval=0.2)
            ready = await wait_for_path(host, path, contains="^state: (ready|up)$",
                                        timeout=30, interval=0.2)
            assert (await writer).status.is_ok
            remover = asyncio.create_task(host.oneshot(f"sleep {LATER}; rm {path}"))
            gone = await wait_for_path(host, path, state="absent", timeout=30, interval=0.2)
            await remover
        return present, ready, gone

    present, ready, gone = run(scenario())
    assert ready >= 0 and present >= 0 and gone >= 0


def test_path_timeout_and_become(ssh_host_factory: Make, sudo_accounts: SudoAccounts) -> None:
    host = ssh_host_factory(7, user=sudo_accounts.nopass)
    path = f"/root/rbwait-{secrets.token_hex(4)}"

    async def scenario() -> str:
        async with host:
            await host.oneshot(f"touch {path}", become=True)
            try:
                assert await wait_for_path(host, path, timeout=10, become=True) < 10
                with pytest.raises(WaitTimeoutError) as caught:
                    await wait_for_path(host, path, timeout=1, interval=0.3)  # cannot see /root
            finally:
                await host.oneshot(f"rm -f {path}", become=True)
        return str(caught.value)

    message = run(scenario())
    assert f"path {path} to be present" in message and "timed out after" in message


def test_command_until_it_succeeds_and_its_timeout(ssh_host_factory: Make) -> None:
    host = ssh_host_factory(6)
    flag = f"/tmp/rbwait-{secrets.token_hex(4)}"

    async def scenario() -> tuple[float, str]:
        async with host:
            maker = asyncio.create_task(host.oneshot(f"sleep {LATER}; touch {flag}"))
            elapsed = await wait_for_command(host, f"test -e {flag}", timeout=30, interval=0.2)
            await maker
            with pytest.raises(WaitTimeoutError) as caught:
                await wait_for_command(host, "echo not yet; exit 3", timeout=1, interval=0.3)
            await host.oneshot(f"rm -f {flag}")
        return elapsed, str(caught.value)

    elapsed, message = run(scenario())
    assert elapsed > 0
    assert "command 'echo not yet; exit 3' to exit 0" in message
    assert "last exit status 3: not yet" in message


@pytest.mark.parametrize("call", [
    lambda h: wait_for_port(h, 0),
    lambda h: wait_for_port(h, 22, state="up"),  # type: ignore[arg-type]
    lambda h: wait_for_port(h, 22, timeout=0),
    lambda h: wait_for_path(h, "/x", delay=-1),
    lambda h: wait_for_command(h, " "),
])
def test_bad_arguments_are_value_errors(call: Callable[[LocalHost], Any]) -> None:
    with pytest.raises(ValueError):
        run(call(LocalHost()))
