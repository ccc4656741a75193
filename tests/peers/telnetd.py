"""A real telnet daemon on loopback: inetutils telnetd, one process per connection.

inetutils telnetd is an inetd service: it talks telnet on its stdin, which must be the TCP
socket itself (it asks the socket for the peer's address). A small accept loop hands each
connection to a new `telnetd -h` (no host banner), which runs /bin/login for a real user.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from types import TracebackType

from tests.peers import wait_until

TELNETD = "/usr/sbin/telnetd"


class TelnetPeer:
    """`with TelnetPeer() as peer:` -> `peer.port` on 127.0.0.1 serves telnet logins."""

    def __init__(self, program: str | None = None) -> None:
        """`program` runs instead of /bin/login (telnetd -E), e.g. a router CLI."""
        self._argv = [TELNETD, "-h", *(["-E", program] if program else [])]
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._children: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TelnetPeer:
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self._thread.start()
        wait_until(self._answers, f"telnetd on 127.0.0.1:{self.port}")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                probe.settimeout(3)
                return bool(probe.recv(1))  # telnetd starts with option negotiation
        except OSError:
            return False

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.setblocking(True)
                fd = conn.fileno()
                child = subprocess.Popen(self._argv, stdin=fd, stdout=fd, stderr=fd,
                                         start_new_session=True, close_fds=True)
            self._children.append(child)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stopping.set()
        self._listener.close()
        self._thread.join(timeout=5)
        for child in self._children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, 9)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
