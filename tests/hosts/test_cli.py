"""`shell: cli` against a real network CLI: FRRouting's vtysh, reached over a real sshd."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from runbook import Status
from runbook.hosts.cli import DEFAULT_PROMPT, CliHost
from runbook.hosts.expect import strip_terminal_codes
from runbook.hosts.links import SshLink
from runbook.hosts.ssh import RemoteHost
from tests.peers.frr import HOSTNAME, FrrPeer


def on_router(frr: FrrPeer, scenario: Callable[[CliHost], Awaitable[None]], **options: object) -> None:
    lab = frr.ssh
    ssh = RemoteHost("r1", lab.addresses[0], port=lab.port, user=lab.user, key=lab.client_key,
                     known_hosts=lab.known_hosts, agent=False, connect_timeout=5)
    host = CliHost("r1", SshLink(ssh), **options)  # type: ignore[arg-type]

    async def main() -> None:
        try:
            await asyncio.wait_for(scenario(host), 60)
        finally:
            await host.close()

    asyncio.run(main())


def test_show_running_config_after_setup(frr_peer: FrrPeer) -> None:
    async def scenario(host: CliHost) -> None:
        result = await host.run("show running-config")
        assert result.status is Status.Success
        assert result.only.retcode is None
        assert f"hostname {HOSTNAME}\n" in result.only.output
        assert not result.only.output.startswith("show running-config")
        assert result.only.output.rstrip().endswith("end")

    on_router(frr_peer, scenario, setup=["terminal length 0"])


def test_the_sink_gets_the_output_as_received_without_echo_and_prompt(frr_peer: FrrPeer) -> None:
    async def scenario(host: CliHost) -> None:
        chunks: list[bytes] = []
        result = await host.run(["show running-config", "configure terminal", "show nonsense"],
                                sink=chunks.append)
        streamed = strip_terminal_codes(b"".join(chunks).decode())
        assert streamed == "".join(s.output for s in result.statuses[:3])
        assert f"hostname {HOSTNAME}\n" in streamed and "% Unknown command" in streamed
        assert "show running-config" not in streamed and f"{HOSTNAME}#" not in streamed
        assert f"{HOSTNAME}(config)#" not in streamed

    on_router(frr_peer, scenario, setup=["terminal length 0"])


def test_configure_terminal_is_followed_in_and_out(frr_peer: FrrPeer) -> None:
    async def scenario(host: CliHost) -> None:
        entered = await host.run(["configure terminal", "interface eth7", "description uplink"])
        assert entered.status is Status.Success
        assert host.current_prompt.endswith("(config-if)#")
        left = await host.run(["end", "show running-config"])
        assert left.status is Status.Success
        assert re.fullmatch(r"[\w.-]+#", host.current_prompt)
        assert "interface eth7\n description uplink\n" in left.statuses[1].output

    on_router(frr_peer, scenario)


def test_an_invalid_command_fails_on_error_patterns(frr_peer: FrrPeer) -> None:
    async def scenario(host: CliHost) -> None:
        result = await host.run(["show bogus-thing", "show version"])
        assert [s.status for s in result.statuses] == [Status.Failed, Status.Skipped]
        assert result.statuses[0].output.startswith("% Unknown command")
        assert (await host.oneshot("show version")).status is Status.Success

    on_router(frr_peer, scenario)


def test_custom_error_pattern_and_prompt(frr_peer: FrrPeer) -> None:
    async def scenario(host: CliHost) -> None:
        result = await host.run("show version")
        assert result.status is Status.Failed  # FRRouting's banner matches the error pattern

    on_router(frr_peer, scenario, prompt=DEFAULT_PROMPT, error_patterns=[r"^FRRouting"])


def test_put_and_get_are_not_supported(frr_peer: FrrPeer) -> None:
    async def scenario(host: CliHost) -> None:
        status, message = await host.put("/etc/hostname", "/tmp")
        assert status is Status.Error and "not supported" in message
        status, message = await host.get("/etc/hostname", "/tmp")
        assert status is Status.Error and "not supported" in message

    on_router(frr_peer, scenario)


def test_interact_in_the_cli_session_and_reachability(frr_peer: FrrPeer) -> None:
    async def scenario(host: CliHost) -> None:
        assert await host.is_reachable()
        result = await host.interact([
            {"send": "configure terminal\\r"},
            {"expect": r"\(config\)# ?$", "send": "end\\r"},
            {"expect": r"^[\w.-]+# ?$"},
        ], timeout=20)
        assert result.status is Status.Success, result.output
        assert "(config)#" in result.output
        assert (await host.run("show version")).status is Status.Success

    on_router(frr_peer, scenario)


def test_a_cli_host_without_a_server_is_not_reachable(frr_peer: FrrPeer) -> None:
    lab = frr_peer.ssh
    ssh = RemoteHost("r9", "127.0.0.1", port=1, user=lab.user, key=lab.client_key,
                     known_hosts=lab.known_hosts, agent=False, connect_timeout=2)
    host = CliHost("r9", SshLink(ssh))

    async def main() -> None:
        assert not await host.is_reachable()
        await host.close()

    asyncio.run(main())


def test_cli_over_telnet(frr_peer: FrrPeer) -> None:
    """The same CLI on a telnet port (telnetd runs vtysh instead of login), no login prompt."""
    from runbook.hosts.links import TelnetLink
    from tests.peers import require
    from tests.peers.telnetd import TELNETD, TelnetPeer

    require(TELNETD, "inetutils-telnetd")
    with TelnetPeer(program=str(frr_peer.vtysh_login)) as telnet:
        host = CliHost("r1t", TelnetLink("127.0.0.1", telnet.port), setup=["terminal length 0"])

        async def main() -> None:
            try:
                result = await host.run(["show running-config", "configure terminal", "end"])
                assert result.status is Status.Success, result
                assert f"hostname {HOSTNAME}\n" in result.statuses[0].output
                assert (await host.run("show nonsense")).status is Status.Failed
            finally:
                await host.close()

        asyncio.run(main())
