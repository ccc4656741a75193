"""The host contract on consoles: a real telnetd login and a real serial line (socat pty + bash)."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from runbook import CommandStatus, Status
from runbook.errors import HostUnreachableError
from runbook.hosts.console import ConsoleHost
from runbook.hosts.console_files import MAX_TRANSFER_BYTES
from runbook.hosts.links import Login, SerialLink, TelnetLink
from tests.peers.serial_line import SerialPeer
from tests.peers.telnetd import TelnetPeer

Scenario = Callable[[ConsoleHost], Awaitable[None]]


@pytest.fixture(params=["telnet", "serial"])
def console_factory(request: pytest.FixtureRequest) -> Callable[[], ConsoleHost]:
    """A fresh ConsoleHost on telnetd (logging in as the test user) or on the serial line."""
    if request.param == "telnet":
        peer: TelnetPeer = request.getfixturevalue("telnet_peer")
        user, password = request.getfixturevalue("console_user")
        return lambda: ConsoleHost("tn1", TelnetLink("127.0.0.1", peer.port),
                                   login=Login(user, password))
    line: SerialPeer = request.getfixturevalue("serial_peer")
    return lambda: ConsoleHost("sr1", SerialLink(line.device))


def on_console(factory: Callable[[], ConsoleHost], scenario: Scenario) -> None:
    async def main() -> None:
        host = factory()
        try:
            await asyncio.wait_for(scenario(host), 60)
        finally:
            await host.close()

    asyncio.run(main())


def test_run_keeps_state_and_reports_real_exit_codes(console_factory: Callable[[], ConsoleHost],
                                                    tmp_path: Path) -> None:
    async def scenario(host: ConsoleHost) -> None:
        await host.run(["cd /tmp", "export EXPORTED=yes; plain=kept"])
        result = await host.run("pwd; echo $EXPORTED $plain; sh -c 'echo child:$EXPORTED'")
        assert result.only == CommandStatus(
            "pwd; echo $EXPORTED $plain; sh -c 'echo child:$EXPORTED'",
            "/tmp\nyes kept\nchild:yes\n", Status.Success, 0)
        listed = await host.run(["echo one", "(exit 7)", "echo never"])
        assert [s.status for s in listed.statuses] == [Status.Success, Status.Failed, Status.Skipped]
        assert listed.statuses[1].retcode == 7
        mixed = await host.run("echo out1; echo err1 >&2; printf 'no newline'")
        assert mixed.only.output == "out1\nerr1\nno newline"
        multi = await host.run("for i in 1 2; do\n  echo line$i\ndone")
        assert multi.only.output == "line1\nline2\n"

    on_console(console_factory, scenario)


def test_oneshot_runs_in_a_subshell_on_the_same_line(
        console_factory: Callable[[], ConsoleHost]) -> None:
    async def scenario(host: ConsoleHost) -> None:
        await host.run("cd /tmp; kept=1")
        shot = await host.oneshot("cd /; unset kept; echo in; exit 5")
        assert shot == CommandStatus("cd /; unset kept; echo in; exit 5", "in\n", Status.Failed, 5)
        after = await host.run("pwd; echo kept=$kept")
        assert after.only.output == "/tmp\nkept=1\n"
        both = await asyncio.gather(host.oneshot("echo a"), host.oneshot("echo b"))
        assert [r.output for r in both] == ["a\n", "b\n"]

    on_console(console_factory, scenario)


def test_a_timed_out_command_is_interrupted_and_the_shell_kept(
        console_factory: Callable[[], ConsoleHost]) -> None:
    async def scenario(host: ConsoleHost) -> None:
        await host.run("marker=still-here")
        timed_out = await host.run("echo started; sleep 30", timeout=1)
        assert timed_out.status is Status.Error
        assert "timed out after 1 s" in timed_out.only.output
        assert (await host.run("echo $marker")).only.output == "still-here\n"

    on_console(console_factory, scenario)


def test_put_and_get_round_trip_with_checksum(console_factory: Callable[[], ConsoleHost],
                                              tmp_path: Path) -> None:
    payload = os.urandom(50_000) + b"\n'EOF' \\ $HOME\n"
    source = tmp_path / "blob.bin"
    source.write_bytes(payload)
    remote_dir = f"/tmp/console-put-{uuid.uuid4().hex[:8]}"

    async def scenario(host: ConsoleHost) -> None:
        assert await host.put(source, remote_dir, mode=0o640) == (Status.Success, "")
        mode = await host.run(f"stat -c %a {remote_dir}/blob.bin")
        assert mode.only.output == "640\n"
        assert await host.get(f"{remote_dir}/blob.bin", tmp_path / "back") == (Status.Success, "")
        assert (tmp_path / "back" / "blob.bin").read_bytes() == payload
        missing = await host.get(f"{remote_dir}/nope", tmp_path / "back")
        assert missing[0] is Status.Error and "nope" in missing[1]
        await host.run(f"rm -rf {remote_dir}")

    on_console(console_factory, scenario)


def test_put_refuses_files_over_the_size_limit(serial_peer: SerialPeer, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (MAX_TRANSFER_BYTES + 1))

    async def scenario(host: ConsoleHost) -> None:
        status, message = await host.put(big, "/tmp")
        assert status is Status.Error
        assert str(MAX_TRANSFER_BYTES) in message

    on_console(lambda: ConsoleHost("sr1", SerialLink(serial_peer.device)), scenario)


def test_wrong_password_is_a_login_failure(telnet_peer: TelnetPeer,
                                           console_user: tuple[str, str]) -> None:
    host = ConsoleHost("tn1", TelnetLink("127.0.0.1", telnet_peer.port),
                       login=Login(console_user[0], "not-the-password"))

    async def main() -> None:
        try:
            with pytest.raises(HostUnreachableError, match="login failed"):
                await host.run("true")
        finally:
            await host.close()

    asyncio.run(main())


def test_connections_and_reconnections_are_told_to_the_transcript(
        tmp_path: Path, telnet_peer: TelnetPeer, console_user: tuple[str, str]) -> None:
    """`transcript` (a run's) hears the line open, log in, close and open again."""
    from runbook.records.transcript import HostTranscript

    user, password = console_user
    host = ConsoleHost("tn1", TelnetLink("127.0.0.1", telnet_peer.port), login=Login(user, password))
    log = HostTranscript(tmp_path / "tn1.log", lambda text: text, frozenset)
    host.transcript = log
    where = f"127.0.0.1:{telnet_peer.port}"

    def notes() -> list[str]:
        """runbook's lines, without their times and the keys typed at the login."""
        log.flush()
        lines = re.findall(r"(?m)^#\| \S+ (.*)$", log.path.read_text())
        return [line for line in lines if not line.startswith("send: ")]

    async def scenario(host: ConsoleHost) -> None:
        await host.run("true")
        assert notes() == [f"connecting to telnet {where}",
                           f"connected to {where}, logged in as {user}"]
        lost = await host.run("exit")  # the shell ends, telnetd closes the connection
        assert lost.only.status is Status.Error
        assert (await host.run("echo back")).only.output == "back\n"
        assert notes()[2:] == [f"reconnecting to telnet {where} (the last session ended)",
                               f"connected to {where}, logged in as {user}"]

    on_console(lambda: host, scenario)


def test_a_closed_port_is_unreachable(tmp_path: Path) -> None:
    host = ConsoleHost("sr9", SerialLink(str(tmp_path / "no-such-tty")))

    async def main() -> None:
        with pytest.raises(HostUnreachableError, match="sr9"):
            await host.run("true")

    asyncio.run(main())


NOISE_USB = "[  123.456789] usb 1-1: new high-speed USB device number 2\r\n"
NOISE_ETH = "[  123.500000] eth0: link up\r\n"


@pytest.mark.parametrize(("printed", "noise", "output"), [
    # between two lines of output: the message's line goes
    ("echo before", NOISE_USB + NOISE_ETH, "before\nafter\n"),
    # into the middle of a line, where the kernel writes (at the cursor): the halves rejoin
    ("printf bef", NOISE_USB + NOISE_ETH, "befafter\n"),
    # after a line break of its own: the break stays (docs/consoles.md)
    ("printf bef", "\r\n" + NOISE_USB, "bef\nafter\n"),
])
def test_console_noise_mid_command_stays_out_of_the_output(
        serial_peer: SerialPeer, tmp_path: Path, printed: str, noise: str, output: str) -> None:
    """Kernel-like messages written to the board's console while a command runs are removed
    from its output; the sink (a run's transcript) gets everything, as it arrives."""
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    started = tmp_path / "started"
    console_tty = serial_peer.tty_of_shell()
    streamed: list[bytes] = []

    async def scenario(host: ConsoleHost) -> None:
        async def noise_then_release() -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            # what the command printed so far reaches the sink while it still runs
            while b"bef" not in b"".join(streamed) or not started.exists():
                assert loop.time() < deadline, streamed
                await asyncio.sleep(0.02)
            with open(console_tty, "w") as tty:
                tty.write(noise)
            with open(fifo, "w") as release:
                release.write("x\n")

        command = f"{printed}; touch {started}; read x < {fifo}; echo after; exit 3"
        result, _ = await asyncio.gather(host.oneshot(command, sink=streamed.append),
                                         noise_then_release())
        assert result == CommandStatus(command, output, Status.Failed, 3)
        received = b"".join(streamed).decode().replace("\r", "")
        shown = "before\n" if printed == "echo before" else "bef"
        assert received == shown + noise.replace("\r", "") + "after\n"

    on_console(lambda: ConsoleHost("sr1", SerialLink(serial_peer.device)), scenario)


def test_noise_while_the_board_is_idle_reaches_the_sink_of_the_next_command(
        serial_peer: SerialPeer) -> None:
    console_tty = serial_peer.tty_of_shell()

    async def scenario(host: ConsoleHost) -> None:
        await host.run("true")
        with open(console_tty, "w") as tty:  # before the next command is even typed
            tty.write(NOISE_ETH)
        streamed: list[bytes] = []
        result = await host.run("echo next", sink=streamed.append)
        assert result.only.output == "next\n"
        assert b"".join(streamed).decode().replace("\r", "") == NOISE_ETH.replace("\r", "") + "next\n"

    on_console(lambda: ConsoleHost("sr1", SerialLink(serial_peer.device)), scenario)


def test_serial_line_with_a_login(console_user: tuple[str, str]) -> None:
    """A serial console that shows `login:` (socat runs /bin/login on the far end)."""
    from tests.peers import require
    from tests.peers.serial_line import SOCAT

    require(SOCAT, "socat")
    user, password = console_user
    with SerialPeer(program="/bin/login") as line:
        on_console(lambda: ConsoleHost("sr2", SerialLink(line.device, 115200),
                                       login=Login(user, password)),
                   _whoami_is(user))


def _whoami_is(user: str) -> Scenario:
    async def scenario(host: ConsoleHost) -> None:
        assert (await host.run("whoami; tty <&2")).only.output.startswith(f"{user}\n/dev/pts/")

    return scenario


def test_the_login_password_is_not_in_a_repr() -> None:
    login = Login("root", "hunter2-secret")
    assert "hunter2-secret" not in repr(login)
    assert "hunter2-secret" not in repr(ConsoleHost("b1", SerialLink("/dev/null"), login=login))


def test_become_on_a_console_host_is_refused_before_connecting() -> None:
    from runbook.errors import BecomeError
    from runbook.hosts.console import ConsoleHost
    from runbook.hosts.links import TelnetLink

    host = ConsoleHost("board", TelnetLink("127.0.0.1", 1, 1.0))
    with pytest.raises(BecomeError, match="not supported on a console host"):
        asyncio.run(host.run("id", become=True))


def test_wait_up_is_the_login_prompt_on_the_line(console_factory: Callable[[], ConsoleHost]) -> None:
    """power `wait_up` on a console: the line shows its login (or shell) prompt."""
    async def scenario(host: ConsoleHost) -> None:
        assert await host.wait_until_up(20)
        assert (await host.run("echo still works")).only.output == "still works\n"

    on_console(console_factory, scenario)


@pytest.mark.parametrize(("banner", "up"), [(b"", False), (b"\r\nboard login: ", True)])
def test_up_means_the_login_prompt_not_a_login(banner: bytes, up: bool) -> None:
    """A port that accepts but shows no prompt (still booting) is down; one that shows the
    login prompt is up, though no login would succeed there yet."""
    import socket
    import threading

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]

        def serve() -> None:
            while True:
                try:
                    client, _ = server.accept()
                except OSError:
                    return
                client.sendall(banner)  # then say nothing more; closed with the test

        threading.Thread(target=serve, daemon=True).start()

        async def main() -> None:
            host = ConsoleHost("board", TelnetLink("127.0.0.1", port, 2.0),
                               login=Login("root", "pw"))
            try:
                assert await host.wait_until_up(4) is up
                assert await host.wait_until_down(4) is not up
            finally:
                await host.close()

        asyncio.run(main())
