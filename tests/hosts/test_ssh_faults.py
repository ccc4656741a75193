"""Faults only an in-process server can inject: a dropped connection mid-command, a hung session."""

from __future__ import annotations

import asyncio

import pytest

from runbook import HostUnreachableError, Status
from tests.faults import FaultSshServer, SilentTcpServer, drop_when_input_contains, hang_forever


def test_connection_dropped_mid_command_fails_that_command_and_the_host_recovers() -> None:
    async def scenario() -> None:
        async with FaultSshServer(drop_when_input_contains(b"sleep 30")) as server:
            host = server.remote_host(connect_timeout=3)
            try:
                result = await asyncio.wait_for(host.run(["echo one", "sleep 30", "echo never"]), 20)
                assert result.statuses[0].status is Status.Success
                assert result.statuses[1].status is Status.Error
                assert "the shell was lost while the command ran" in result.statuses[1].output
                assert result.statuses[2].status is Status.Skipped
                again = await asyncio.wait_for(host.run("echo back"), 20)
                assert again.only.output == "back\n"
            finally:
                await host.close()

    asyncio.run(scenario())


def test_hung_session_is_bounded_by_the_command_timeout() -> None:
    async def scenario() -> None:
        async with FaultSshServer(hang_forever) as server:
            host = server.remote_host(connect_timeout=3)
            try:
                result = await asyncio.wait_for(host.oneshot("echo hi", timeout=1), 15)
                assert result.status is Status.Error
                assert "timed out" in result.output
            finally:
                await asyncio.wait_for(host.close(), 10)

    asyncio.run(scenario())


def test_hung_shell_start_is_bounded() -> None:
    async def scenario() -> None:
        async with FaultSshServer(hang_forever) as server:
            host = server.remote_host(connect_timeout=3)
            try:
                with pytest.raises(HostUnreachableError, match="shell did not start within 1 s"):
                    await asyncio.wait_for(host.run("echo hi", timeout=1), 30)
            finally:
                await asyncio.wait_for(host.close(), 10)

    asyncio.run(scenario())


def test_silent_server_raises_unreachable_quickly() -> None:
    from runbook import RemoteHost

    async def scenario(port: int) -> None:
        host = RemoteHost("mute", "127.0.0.1", port=port, connect_timeout=1)
        with pytest.raises(HostUnreachableError, match="mute"):
            await asyncio.wait_for(host.oneshot("true"), 10)

    with SilentTcpServer() as silent:
        asyncio.run(scenario(silent.port))
