"""`Host.interact` against programs that prompt: over SSH (a fresh pty login shell) and telnet."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runbook import Status
from runbook.hosts.console import ConsoleHost
from runbook.hosts.expect import spell_keys
from runbook.hosts.links import Login, TelnetLink
from runbook.hosts.local import LocalHost
from tests.conftest import RemoteHostFactory
from tests.peers.telnetd import TelnetPeer

SECRET = "s3cret-answer"
ASK_TWO = "printf 'Name? '; read name; printf 'Secret? '; read s; echo \"hello $name (${#s} chars)\"\n"


def _mask(text: str) -> str:
    return text.replace(SECRET, "***")


def test_two_questions_answered_and_the_secret_masked(ssh_host_factory: RemoteHostFactory,
                                                      tmp_path: Path) -> None:
    script = tmp_path / "ask.sh"
    script.write_text(ASK_TWO)
    host = ssh_host_factory(0)

    async def main() -> None:
        try:
            result = await host.interact([
                {"expect": r"[#$] ?$", "send": f"sh {script}\\r"},
                {"expect": r"Name\? $", "send": "alice\\r"},
                {"expect": r"Secret\? $", "send": SECRET + "\\r"},
                {"expect": r"hello alice \(13 chars\)"},
            ], timeout=30, mask=_mask)
        finally:
            await host.close()
        assert result.status is Status.Success
        assert result.retcode is None
        assert "hello alice (13 chars)" in result.output
        assert SECRET not in result.output and "***" in result.output  # the pty echoed it

    asyncio.run(main())


def test_a_pattern_that_never_comes_fails_with_the_last_output(
        ssh_host_factory: RemoteHostFactory) -> None:
    host = ssh_host_factory(1)

    async def main() -> None:
        try:
            result = await host.interact([
                {"expect": r"[#$] ?$", "send": "echo last-words-here\\r"},
                {"expect": r"never-printed", "timeout": 1},
            ], timeout=30)
        finally:
            await host.close()
        assert result.status is Status.Failed
        assert "'never-printed' did not come within its timeout (1 s)" in result.output
        assert "last output received:" in result.output
        assert result.output.rstrip().split("last output received:")[1].count("last-words-here")

    asyncio.run(main())


def test_sudo_password_prompt_on_a_telnet_console(telnet_peer: TelnetPeer,
                                                  console_user: tuple[str, str]) -> None:
    user, password = console_user
    host = ConsoleHost("tn1", TelnetLink("127.0.0.1", telnet_peer.port), login=Login(user, password))

    async def main() -> None:
        try:
            assert (await host.run("whoami")).only.output == f"{user}\n"
            # The dialog ends on what the shell prints once sudo is gone (docs/consoles.md):
            # sudo relays the terminal until it exits, and the set-up line the next command
            # types would otherwise race its exit.
            result = await host.interact([
                {"send": "sudo -k; sudo -S -p 'Password for sudo: ' id -un; echo sudo-ended-$?\\r"},
                {"expect": r"Password for sudo: ", "send": password + "\\r"},
                {"expect": r"^root\s*$"},
                {"expect": r"^sudo-ended-0\s*$"},
            ], timeout=30, mask=lambda text: text.replace(password, "***"))
            assert result.status is Status.Success, result.output
            assert password not in result.output
            assert (await host.run("echo back")).only.output == "back\n"
        finally:
            await host.close()

    asyncio.run(main())


def test_key_spelling() -> None:
    assert spell_keys(r"y\r") == "y\r"
    assert spell_keys("^C^[x\\^C\\\\") == "\x03\x1bx^C\\"
    with pytest.raises(ValueError, match=r"unknown key escape \\q"):
        spell_keys(r"\q")


def test_bad_pairs_fail_before_connecting(ssh_host_factory: RemoteHostFactory) -> None:
    host = ssh_host_factory(2, address="192.0.2.1")

    async def main() -> None:
        with pytest.raises(ValueError, match="pair 1: needs `expect` and/or `send`"):
            await host.interact([{"wait": "x"}])
        with pytest.raises(ValueError, match="pair 2: timeout"):
            await host.interact([{"send": "x"}, {"expect": "y", "timeout": -1}])

    asyncio.run(main())


def test_interact_on_the_local_machine(tmp_path: Path) -> None:
    script = tmp_path / "ask.sh"
    script.write_text(ASK_TWO)

    async def main() -> None:
        host = LocalHost("local")
        result = await host.interact([
            {"send": f"sh {script}; exit\\r"},
            {"expect": r"Name\? $", "send": "bob\\r"},
            {"expect": r"Secret\? $", "send": SECRET + "\\r"},
            {"expect": r"hello bob \(13 chars\)"},
        ], timeout=30, mask=_mask)
        await host.close()
        assert result.status is Status.Success, result.output
        assert SECRET not in result.output

    asyncio.run(main())


def test_a_dialog_that_leaves_the_shell_in_an_open_quote_does_not_stall_the_next_command(
        telnet_peer: TelnetPeer, console_user: tuple[str, str]) -> None:
    # What a program that eats half of a typed-ahead line (sudo's pty relay) leaves behind:
    # the shell waits for the quote to close, and every retyped set-up line stays inside it.
    user, password = console_user
    host = ConsoleHost("tn1", TelnetLink("127.0.0.1", telnet_peer.port), login=Login(user, password))

    async def main() -> None:
        try:
            assert (await host.run("true")).only.status is Status.Success
            result = await host.interact([{"send": "echo 'left open\\r"}], timeout=5)
            assert result.status is Status.Success
            assert (await host.run("echo back")).only.output == "back\n"
        finally:
            await host.close()

    asyncio.run(main())
