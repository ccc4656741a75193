"""`SshConnector`: the connection half of `RemoteHost` (settings → asyncssh, channels).

One connection per host, opened lazily, reused, re-opened when it died (a transcript is told
"connecting" / "reconnecting"), through the jump host when the lab names one. Connection
failures become `HostUnreachableError` naming the host, its endpoint and the jump hosts on the
way. Exec channels open on it with a bounded receive window (`CHANNEL_WINDOW`) and a short
backoff when the server refuses a session; `SshChannel` adapts one to the shell protocol.

asyncssh is imported only when a connection is opened, so commands that never connect
(`runbook validate`, `runbook --help`) stay fast.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook._lazyimport import lazy_module
from runbook.errors import HostUnreachableError
from runbook.hosts.base import Host
from runbook.hosts.shell import INTERRUPT_GRACE
from runbook.hosts.sshfiles import client_keys, known_hosts_option
from runbook.hosts.sshtext import describe_error, key_problem

if TYPE_CHECKING:
    import asyncio

    import asyncssh
else:
    asyncio = lazy_module("asyncio")
    from runbook.hosts.sshlib import asyncssh

#: Receive window of shell and exec channels: asyncssh buffers up to about twice this per
#: channel before the server must wait for runbook to read (its default is 2 MiB: 500 hosts
#: printing fast would hold up to 2 GB; 128 KiB held 40 MB at 500 hosts, 64 KiB about half,
#: docs/performance.md). A channel moves at most this per round trip: ~300 MB/s on a LAN,
#: ~1.3 MB/s at 50 ms.
CHANNEL_WINDOW = 64 * 1024
#: Pauses before retrying a refused session; None: give up.
SESSION_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, None)


class SshChannel:
    """An asyncssh process as a `ShellChannel` (bytes, stderr merged by the shell)."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        self._process = process

    def write(self, data: bytes) -> None:
        with contextlib.suppress(Exception):
            self._process.stdin.write(data)

    async def read(self) -> bytes:
        try:
            return await self._process.stdout.read(65536)
        except Exception:  # connection lost: same as end of file for the shell protocol
            return b""

    async def exit_status(self) -> int | None:
        """The command's exit status; one killed by signal N gives 128 + N, as a shell says
        (a oneshot that `exec`s its command ends with sshd's exit-signal, not a status)."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(INTERRUPT_GRACE):
                await self._process.wait_closed()
        rc = self._process.returncode
        return 128 - rc if rc is not None and rc < 0 else rc

    def close(self) -> None:
        self._process.close()

    def closing(self) -> bool:
        """True once the session is ending (its shell exited, the connection went)."""
        return self._process.is_closing()


class SshConnector(Host):
    """A host's one SSH connection, built from the lab's settings (`RemoteHost` sets them)."""

    password: str | None
    keys: list[Path]
    key_passphrase: str | None
    hop: SshConnector | None
    connect_timeout: float
    host_key_checking: bool
    known_hosts: Path | None
    keepalive: float
    agent: bool
    max_sessions: int
    _conn: asyncssh.SSHClientConnection | None
    _connected_once: bool  # a later connect is a reconnect (transcripts say so)
    _sftp: asyncssh.SFTPClient | None

    # Made on first use, so building hosts (validate, `runbook hosts`) does not import asyncio.
    @functools.cached_property
    def _connect_lock(self) -> asyncio.Lock:
        return asyncio.Lock()

    # -- connection ---------------------------------------------------------------------
    async def connection(self) -> asyncssh.SSHClientConnection:
        """The cached connection, opened (or re-opened when it died) on demand."""
        conn = self._conn
        if conn is not None and not conn.is_closed():
            return conn
        async with self._connect_lock:
            if self._conn is None or self._conn.is_closed():
                again = self._connected_once
                self._forget_connection()
                self._note(f"{'reconnecting' if again else 'connecting'} to {self.endpoint}"
                           + (" (the connection was lost)" if again else ""))
                try:
                    self._conn = await self._connect()
                except HostUnreachableError as exc:
                    self._note(f"connection failed: {exc.detail}")
                    raise
                self._connected_once = True
                self._note(f"connected to {self.endpoint}")
            return self._conn

    def _note(self, text: str) -> None:
        if self.notes is not None:
            self.notes(text)

    def _connect_options(self) -> dict[str, Any]:
        """asyncssh.connect keywords from this host's settings (credentials, host keys)."""
        options: dict[str, Any] = {
            "port": self.port,
            "connect_timeout": self.connect_timeout,
            "keepalive_interval": self.keepalive,
            "keepalive_count_max": 3,
        }
        if self.user:
            options["username"] = self.user
        if self.password is not None:
            options["password"] = self.password
        if self.keys:
            options["client_keys"] = client_keys(self.keys)
        if self.key_passphrase is not None:
            options["passphrase"] = self.key_passphrase
        if not self.agent:
            options["agent_path"] = None
        options.update(known_hosts_option(self.host_key_checking, self.known_hosts))
        return options

    async def _connect(self) -> asyncssh.SSHClientConnection:
        options = self._connect_options()
        self._check_key_files()
        try:
            if self.hop is not None:
                options["tunnel"] = await self.hop.connection()
            else:
                from runbook.hosts.coalesce import DirectConnector

                options["tunnel"] = DirectConnector()
            # asyncssh's connect_timeout covers TCP, key exchange and auth; the outer bound
            # guards against anything it does not cover.
            return await asyncio.wait_for(
                asyncssh.connect(self.address, **options), self.connect_timeout + 1
            )
        except HostUnreachableError as exc:
            raise self._unreachable(f"jump host {exc.host_id!r} ({exc.endpoint}{exc.route}) "
                                    f"is unreachable: {exc.cause}", past_hops=False) from exc
        except TimeoutError as exc:
            raise self._unreachable(f"no answer within {self.connect_timeout:g} s") from exc
        except asyncssh.HostKeyNotVerifiable as exc:
            raise self._unreachable(
                f"host key not verified ({exc.reason}); add it to known_hosts, or set "
                "host_key_checking: false in the lab to skip the check") from exc
        except asyncssh.PermissionDenied as exc:
            raise self._unreachable(
                f"authentication failed for user {self.user!r}: {exc.reason}") from exc
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            raise self._unreachable(key_problem(self.keys, self.key_passphrase is not None, exc)) from exc
        except socket.gaierror as exc:
            raise self._unreachable(
                f"cannot resolve the address {self.address!r} ({exc.strerror}): check the "
                "host's address in the lab, or DNS") from exc
        except (OSError, asyncssh.Error) as exc:
            raise self._unreachable(describe_error(exc)) from exc

    def _check_key_files(self) -> None:
        """A lab `key` that is not a file: unreachable, naming it (not a raw OS error)."""
        for key in self.keys:
            if not key.is_file():
                raise self._unreachable(f"the key file {key} does not exist (lab field `key`)")

    def _unreachable(self, cause: str, *, past_hops: bool = True) -> HostUnreachableError:
        """The error for this host, naming `address:port` and (when the jump hosts answered,
        `past_hops`) the jump hosts on the way; a dead jump host is named in `cause`."""
        route = ""
        hop = self.hop if past_hops else None
        while hop is not None:
            route += f" through jump host {hop.id!r} ({hop.endpoint})"
            hop = hop.hop
        return HostUnreachableError(self.id, self.address, cause, port=self.port, route=route)

    def _forget_connection(self) -> None:
        self._conn = None
        self._sftp = None
        self._shell = None
        self._become_shells = {}

    async def _open_channel(self, command: str) -> asyncssh.SSHClientProcess[bytes]:
        """Open an exec channel, reconnecting once if the cached connection has died.

        A refused session (the server's MaxSessions is lower than ours, or a closed channel
        not yet released on its side) is retried with a short backoff before giving up.
        """
        reconnected = False
        for delay in SESSION_RETRY_DELAYS:
            conn = await self.connection()
            try:
                return await conn.create_process(command, encoding=None, window=CHANNEL_WINDOW)
            except (asyncssh.ConnectionLost, asyncssh.DisconnectError, BrokenPipeError,
                    ConnectionResetError) as exc:
                conn.abort()
                self._forget_connection()
                if reconnected:
                    raise self._unreachable(describe_error(exc)) from exc
                reconnected = True
            except asyncssh.ChannelOpenError as exc:
                if delay is None:
                    raise self._unreachable(
                        f"could not open a session: {exc.reason} (is the server's MaxSessions "
                        f"below max_sessions={self.max_sessions}? lower it in the lab)") from exc
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")
