"""Fault-injection servers for timeout and connection-loss tests.

`SilentTcpServer` accepts TCP connections and never says a word, so an SSH client hangs in the
banner exchange (what a wedged host or a black-holing firewall looks like).

`FaultSshServer` is an in-process asyncssh server on 127.0.0.1 whose sessions run a handler.
`run_locally` executes each session's command in a local ``/bin/sh`` (so the real runbook shell
protocol works unchanged); `drop_when_input_contains` does the same but aborts the whole
connection once a trigger shows up in a command or in the session's input; `hang_forever`
accepts a session and never answers.  Example::

    async def scenario() -> None:
        async with FaultSshServer(drop_when_input_contains(b"sleep 30")) as server:
            host = server.remote_host()
            result = await host.run(["echo one", "sleep 30", "echo never"])
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import asyncssh

if TYPE_CHECKING:
    from runbook.hosts.ssh import RemoteHost

ServerProcess = asyncssh.SSHServerProcess[bytes]
#: A session handler: gets the server side of one SSH session; returning ends the session.
SessionHandler = Callable[[ServerProcess], Awaitable[None]]
_CHUNK = 65536


class SilentTcpServer:
    """A TCP listener on 127.0.0.1 that accepts connections and never sends anything.

    Usable as ``with SilentTcpServer() as silent: ... silent.port``; works in sync and async
    tests (a daemon thread accepts).  ``accepted`` counts connections taken so far.
    """

    def __init__(self, address: str = "127.0.0.1") -> None:
        """Bind a free port on ``address`` (listening starts on ``__enter__``)."""
        self.address = address
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((address, 0))
        self.port: int = self._listener.getsockname()[1]
        self._clients: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def accepted(self) -> int:
        """Connections accepted so far."""
        return len(self._clients)

    def __enter__(self) -> SilentTcpServer:
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for client in self._clients:
            client.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._clients.append(client)


class FaultSshServer:
    """In-process asyncssh server on 127.0.0.1 running ``handler`` for every session.

    ``async with FaultSshServer(handler) as server`` generates a host key and a client key in a
    temp dir and exposes ``address``, ``port``, ``user``, ``client_key`` and ``known_hosts``
    (host keys are checkable, as against a real host).  By default any client key is accepted;
    pass ``authorized_key`` (a public key file) to accept only that one, or ``password`` to
    accept password authentication with that password only (and no keys).
    ``connections`` counts accepted connections; ``drop_connections()`` aborts all of them.
    """

    def __init__(self, handler: SessionHandler, *, authorized_key: Path | None = None,
                 password: str | None = None) -> None:
        """Remember the handler; keys and the listener are created on enter."""
        self.handler = handler
        self.authorized_key = authorized_key
        self.password = password
        self.address = "127.0.0.1"
        self.port = 0
        self.user = getpass.getuser()
        self.connections = 0
        self._directory = Path(tempfile.mkdtemp(prefix="faultssh-"))
        self.client_key = self._directory / "client_ed25519"
        self.known_hosts = self._directory / "known_hosts"
        self._server: asyncssh.SSHAcceptor | None = None
        self._live: list[asyncssh.SSHServerConnection] = []

    async def __aenter__(self) -> FaultSshServer:
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key.write_private_key(str(self.client_key))
        client_key.write_public_key(str(self.client_key) + ".pub")
        options: dict[str, Any] = {}
        if self.authorized_key is not None:
            options["authorized_client_keys"] = str(self.authorized_key)
        self._server = await asyncssh.create_server(
            lambda: _FaultServerSide(self),
            self.address,
            0,
            server_host_keys=[host_key],
            process_factory=self._run_session,
            encoding=None,
            **options,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        public = host_key.export_public_key("openssh").decode().split()
        self.known_hosts.write_text(f"[{self.address}]:{self.port} {public[0]} {public[1]}\n")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            self.drop_connections()
            await self._server.wait_closed()
        shutil.rmtree(self._directory, ignore_errors=True)

    def drop_connections(self) -> None:
        """Abort every open connection at once (no SSH disconnect message)."""
        live, self._live = self._live, []
        for conn in live:
            conn.abort()

    def remote_host(self, id: str = "fault", **overrides: Any) -> RemoteHost:
        """A RemoteHost pointed at this server with host key checking on."""
        from runbook.hosts.ssh import RemoteHost

        settings: dict[str, Any] = {
            "port": self.port,
            "user": self.user,
            "key": self.client_key,
            "known_hosts": self.known_hosts,
            "connect_timeout": 5.0,
            "agent": False,
        }
        settings.update(overrides)
        return RemoteHost(id, settings.pop("address", self.address), **settings)

    async def _run_session(self, process: ServerProcess) -> None:
        try:
            await self.handler(process)
        finally:
            if not process.is_closing():
                process.exit(0)


class _FaultServerSide(asyncssh.SSHServer):
    """Counts connections; accepts any public key unless authorized keys were configured."""

    def __init__(self, owner: FaultSshServer) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._owner.connections += 1
        self._owner._live.append(conn)
        self._conn = conn

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn in self._owner._live:
            self._owner._live.remove(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return self._owner.password is None

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # Only reached when no authorized_client_keys were given: accept any key.
        return self._owner.authorized_key is None

    def password_auth_supported(self) -> bool:
        return self._owner.password is not None

    def validate_password(self, username: str, password: str) -> bool:
        return password == self._owner.password


# ----------------------------------------------------------------------------- handlers
async def run_locally(process: ServerProcess) -> None:
    """Run the session's command in a local ``/bin/sh`` (its own process group), piping I/O."""
    await _bridge(process, on_input=None)


def drop_when_input_contains(trigger: bytes, delay: float = 0.0) -> SessionHandler:
    """Like `run_locally`, but abort the connection when ``trigger`` is seen.

    The trigger is looked for in the exec command and in everything written to the session's
    stdin (the persistent shell gets its commands there).  After ``delay`` seconds the whole
    connection is aborted, so earlier commands are answered and the triggering one is cut off.
    """

    async def handler(process: ServerProcess) -> None:
        seen = bytearray()

        async def on_input(data: bytes) -> None:
            seen.extend(data)
            if trigger in seen:
                await _abort_after(process, delay)

        command = (process.command or "").encode()
        if trigger in command:
            await _abort_after(process, delay)
            return
        await _bridge(process, on_input=on_input)

    return handler


async def hang_forever(process: ServerProcess) -> None:
    """Accept the session and never answer or exit (until the connection goes away)."""
    await process.channel.get_connection().wait_closed()


async def _abort_after(process: ServerProcess, delay: float) -> None:
    if delay:
        await asyncio.sleep(delay)
    process.channel.get_connection().abort()


async def _bridge(process: ServerProcess, on_input: Callable[[bytes], Awaitable[None]] | None) -> None:
    """Pipe an SSH session to ``/bin/sh -c COMMAND`` (``sh`` for a shell request)."""
    child = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        process.command or "exec sh",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # like sshd: the command leads its own process group
    )
    assert child.stdin and child.stdout and child.stderr

    async def feed() -> None:
        assert child.stdin
        with contextlib.suppress(Exception):
            while data := await process.stdin.read(_CHUNK):
                if on_input is not None:
                    await on_input(data)
                child.stdin.write(data)
                await child.stdin.drain()
        with contextlib.suppress(Exception):
            child.stdin.close()

    async def drain(source: asyncio.StreamReader, sink: asyncssh.SSHWriter[bytes]) -> None:
        with contextlib.suppress(Exception):
            while chunk := await source.read(_CHUNK):
                sink.write(chunk)

    feeder = asyncio.create_task(feed())
    try:
        await asyncio.gather(drain(child.stdout, process.stdout), drain(child.stderr, process.stderr))
        returncode = await child.wait()
        if not process.is_closing():
            process.exit(returncode)
    finally:
        feeder.cancel()
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            await child.wait()


__all__ = [
    "FaultSshServer",
    "SessionHandler",
    "SilentTcpServer",
    "drop_when_input_contains",
    "hang_forever",
    "run_locally",
]
