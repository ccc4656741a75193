"""pytest fixtures for the console peers (imported by tests/hosts/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.peers import ensure_test_user, require
from tests.peers.frr import VTYSH, ZEBRA, FrrPeer
from tests.peers.serial_line import SOCAT, SerialPeer
from tests.peers.telnetd import TELNETD, TelnetPeer
from tests.sshlab import require_sshd


@pytest.fixture(scope="session")
def console_user() -> tuple[str, str]:
    """(user, password) of a real local account with bash, made if missing."""
    require("/usr/sbin/useradd", "passwd")
    return ensure_test_user()


@pytest.fixture(scope="module")
def telnet_peer() -> Iterator[TelnetPeer]:
    """inetutils telnetd on 127.0.0.1 (a fresh port per test module)."""
    require(TELNETD, "inetutils-telnetd")
    with TelnetPeer() as peer:
        yield peer


@pytest.fixture
def serial_peer() -> Iterator[SerialPeer]:
    """A socat pty pair with an interactive bash on the far end (fresh per test)."""
    require(SOCAT, "socat")
    with SerialPeer() as peer:
        yield peer


@pytest.fixture(scope="module")
def frr_peer() -> Iterator[FrrPeer]:
    """zebra running with a private state dir, its vtysh reached over a real sshd."""
    require(ZEBRA, "frr")
    require(VTYSH, "frr")
    require_sshd()
    with FrrPeer() as peer:
        yield peer
