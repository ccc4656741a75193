"""The console test peers themselves: each starts, answers like the real thing, and stops."""

from __future__ import annotations

import asyncio
import subprocess
import time

import serial

from tests.peers.frr import HOSTNAME, FrrPeer
from tests.peers.serial_line import SerialPeer
from tests.peers.telnetd import TelnetPeer


def _read_until(read, wanted: bytes, timeout: float = 10.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while wanted not in data and time.monotonic() < deadline:
        data += read()
    return data


def test_telnetd_shows_a_login_prompt(telnet_peer: TelnetPeer, console_user: tuple[str, str]) -> None:
    import telnetlib3

    async def prompt() -> str:
        reader, writer = await telnetlib3.open_connection("127.0.0.1", telnet_peer.port)
        try:
            return str(await asyncio.wait_for(reader.readuntil(b"login: "), 10))
        finally:
            writer.close()

    assert "login:" in asyncio.run(prompt())


def test_serial_line_has_a_shell_behind_it(serial_peer: SerialPeer) -> None:
    port = serial.serial_for_url(serial_peer.device, 115200, timeout=0.2)
    try:
        port.write(b"echo $((6*7))\r")
        assert b"42" in _read_until(lambda: port.read(4096), b"42")
        assert serial_peer.tty_of_shell().startswith("/dev/pts/")
    finally:
        port.close()


def test_frr_vtysh_over_ssh(frr_peer: FrrPeer) -> None:
    lab = frr_peer.ssh
    result = subprocess.run(
        ["ssh", "-tt", "-F", "/dev/null", "-i", str(lab.client_key),
         "-o", f"UserKnownHostsFile={lab.known_hosts}", "-p", str(lab.port),
         f"{lab.user}@{lab.addresses[0]}"],
        input=b"show running-config\rexit\r", capture_output=True, timeout=30, check=False)
    assert f"hostname {HOSTNAME}".encode() in result.stdout
