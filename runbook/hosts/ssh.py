"""`RemoteHost`: a host reached over SSH with asyncssh.

asyncssh is imported only when a connection is opened, so commands that never connect
(`runbook validate`, `runbook --help`) stay fast.

One connection per host, opened lazily, reused, re-opened when it died (`SshConnector` in
`runbook.hosts.sshconnect` turns the settings checked here into it). On it: one persistent
shell channel for `run`, one SFTP channel for `put` / `get`, and exec channels for `oneshot`.
OpenSSH allows 10 sessions per connection (MaxSessions), so exec channels queue on a semaphore
instead of failing. Every remote command runs in its own process group (sshd calls setsid for
each session), which runbook records so timeouts, cancellation and `close()` can kill it.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook._lazyimport import lazy_module
from runbook._numbers import finite_number
from runbook.errors import ConfigError, HostUnreachableError
from runbook.hosts.become_files import become_get, become_put
from runbook.hosts.contract import check_command
from runbook.hosts.output import DEFAULT_OUTPUT_LIMIT, BoundedOutput, OutputSink
from runbook.hosts.sftp import get_tree, put_tree
from runbook.hosts.sftpdirs import ensure_dir
from runbook.hosts.shell import INTERRUPT_GRACE
from runbook.hosts.shelltext import SHELL_COMMAND
from runbook.hosts.sshconnect import SshChannel, SshConnector
from runbook.hosts.sshtext import describe_error, make_local_dir, remote_path
from runbook.hosts.transfer import PathLike, as_paths, missing_sources
from runbook.results import CommandStatus, Status

if TYPE_CHECKING:
    import asyncio

    import asyncssh

    from runbook.hosts.base import PowerControl
    from runbook.hosts.streams import SshPtyStream
else:
    asyncio = lazy_module("asyncio")
    from runbook.hosts.sshlib import asyncssh

#: Sessions OpenSSH allows per connection by default (sshd_config MaxSessions).
DEFAULT_MAX_SESSIONS = 10


class RemoteHost(SshConnector):
    """A lab host reached over SSH. Keyword names match the lab file's host fields."""

    transport = "ssh"
    hop: RemoteHost | None

    def __init__(
        self,
        id: str,
        address: str,
        *,
        port: int = 22,
        user: str | None = None,
        password: str | None = None,
        key: str | Path | Sequence[str | Path] | None = None,
        key_passphrase: str | None = None,
        hop: RemoteHost | None = None,
        connect_timeout: float = 10.0,
        host_key_checking: bool = True,
        known_hosts: str | Path | None = None,
        keepalive: float = 30.0,
        agent: bool = True,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        vars: dict[str, Any] | None = None,
        power_control: PowerControl | None = None,
        become: bool = False,
        become_user: str = "root",
        become_password: str | None = None,
    ) -> None:
        super().__init__(id, vars=vars, power_control=power_control, become=become,
                         become_user=become_user, become_password=become_password)
        if not isinstance(address, str) or not address:
            raise ConfigError(f"host {id!r}: address must be a non-empty string, not {address!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ConfigError(f"host {id!r}: port must be a number from 1 to 65535, not {port!r}")
        for name, seconds in (("connect_timeout", connect_timeout), ("keepalive", keepalive)):
            if not finite_number(seconds) or seconds <= 0:
                raise ConfigError(f"host {id!r}: {name} must be a positive number of seconds, "
                                  f"not {seconds!r}")
        if hop is not None and not isinstance(hop, RemoteHost):
            raise ConfigError(f"host {id!r}: hop must be another RemoteHost, not {hop!r}")
        if isinstance(max_sessions, bool) or not isinstance(max_sessions, int) or max_sessions < 1:
            raise ConfigError(f"host {id!r}: max_sessions must be a whole number >= 1, "
                              f"not {max_sessions!r}")
        self.address = address
        self.port = port
        self.user = user
        self.password = password
        keys = [key] if isinstance(key, str | Path) else list(key or [])
        self.keys = [Path(k).expanduser() for k in keys]
        self.key_passphrase = key_passphrase
        self.hop = hop
        self.connect_timeout = connect_timeout
        self.host_key_checking = host_key_checking
        self.known_hosts = Path(known_hosts).expanduser() if known_hosts else None
        self.keepalive = keepalive
        self.agent = agent
        self.max_sessions = max_sessions
        self._conn = None
        self._connected_once = False
        self._sftp = None

    # Locks and semaphores are made on first use, so building hosts (validate, `runbook hosts`)
    # does not import asyncio.
    @functools.cached_property
    def _sftp_lock(self) -> asyncio.Lock:
        return asyncio.Lock()

    @functools.cached_property
    def _exec_slots(self) -> asyncio.Semaphore:
        """Sessions for oneshots: one each is kept for the shell, SFTP and kill commands."""
        return asyncio.Semaphore(max(1, self.max_sessions - 3))

    @functools.cached_property
    def _kill_slot(self) -> asyncio.Semaphore:
        return asyncio.Semaphore(1)

    # -- shell --------------------------------------------------------------------------
    async def _open_shell_channel(self) -> SshChannel:
        return SshChannel(await self._open_channel(SHELL_COMMAND))

    async def _open_command_channel(self, command: str) -> SshChannel:
        return SshChannel(await self._open_channel(command))

    async def _open_interact_stream(self) -> SshPtyStream:
        """A fresh session with a pty and the account's login shell (for `interact`)."""
        from runbook.hosts.streams import SshPtyStream

        return await SshPtyStream.open(await self.connection())

    async def _signal_group(self, pgid: int, signal_name: str) -> None:
        await self._kill_groups([pgid], signal_name)

    async def _kill_groups(self, pgids: Sequence[int], signal_name: str) -> None:
        """Signal remote process groups with one short exec channel."""
        conn = self._conn
        if not pgids or conn is None or conn.is_closed():
            return
        targets = " ".join(f"-{pgid}" for pgid in pgids)
        async with self._kill_slot:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    conn.run(f"kill -{signal_name} -- {targets} 2>/dev/null"), INTERRUPT_GRACE
                )

    # -- oneshot ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _command_slot(self) -> AsyncIterator[None]:
        async with self._exec_slots:
            yield

    def _session_lost(self) -> str:
        return (f"the SSH session to {self.endpoint} ended without an exit status "
                "(connection lost)")

    async def oneshot(self, cmd: str, timeout: float | None = None, *,
                      become: bool | None = None, become_user: str | None = None,
                      output_limit: int = DEFAULT_OUTPUT_LIMIT,
                      sink: OutputSink | None = None) -> CommandStatus:
        """Run `cmd` in a fresh exec channel (stdin /dev/null, stderr merged into output).

        With become it runs under sudo as the become user (`runbook.hosts.become`).
        """
        check_command(cmd, timeout)
        out = BoundedOutput(output_limit, sink)
        return await self._marker_oneshot(cmd, timeout, self.become_for(become, become_user),
                                          out=out)

    # -- files --------------------------------------------------------------------------
    async def _sftp_client(self) -> asyncssh.SFTPClient:
        async with self._sftp_lock:
            conn = await self.connection()
            if self._sftp is None:
                self._sftp = await conn.start_sftp_client()
            return self._sftp

    async def put(self, src_files: PathLike | Sequence[PathLike], dest_dir: PathLike,
                  mode: int | None = None, *, become: bool | None = None,
                  become_user: str | None = None) -> tuple[Status, str]:
        """Upload files or folders into the remote folder `dest_dir` (created if missing).

        An unreachable host raises HostUnreachableError, like `run` and `oneshot`.
        """
        sources = as_paths(src_files)
        if problem := missing_sources(sources):
            return Status.Error, problem
        if (who := self.become_for(become, become_user)) is not None:
            return await become_put(self, sources, dest_dir, mode, who)
        dest = remote_path(dest_dir)
        try:
            sftp = await self._sftp_client()
            await ensure_dir(sftp, dest)
            skipped = await put_tree(sftp, sources, dest, mode)
        except HostUnreachableError:
            raise
        except (OSError, asyncssh.Error) as exc:
            return Status.Error, f"upload to {self.id}:{dest} failed: {describe_error(exc)}"
        return Status.Success, skipped.summary(
            f"uploaded {len(sources)} item(s) to {self.id}:{dest}")

    async def get(self, src_files: PathLike | Sequence[PathLike], dest_dir: PathLike, *,
                  become: bool | None = None, become_user: str | None = None
                  ) -> tuple[Status, str]:
        """Download remote files or folders into the local folder `dest_dir` (made if missing)."""
        items = [src_files] if isinstance(src_files, str | Path) else list(src_files)
        if (who := self.become_for(become, become_user)) is not None:
            return await become_get(self, items, Path(dest_dir), who)
        remote = [remote_path(item) for item in items]
        dest = Path(dest_dir)
        try:
            dest = await asyncio.to_thread(make_local_dir, dest)
            sftp = await self._sftp_client()
            skipped = await get_tree(sftp, remote, dest)
        except HostUnreachableError:
            raise
        except (OSError, asyncssh.Error) as exc:
            where = f"{self.id}:{', '.join(remote)}"
            return Status.Error, f"download from {where} failed: {describe_error(exc)}"
        return Status.Success, skipped.summary(
            f"downloaded {len(remote)} item(s) from {self.id} to {dest}")

    # -- lifetime -----------------------------------------------------------------------
    async def reset_connection(self) -> None:
        """Drop the connection without killing remote processes (the host may be powered off)."""
        conn = self._conn
        self._forget_connection()
        if conn is not None:
            conn.abort()

    async def release_connection(self) -> None:
        """Drop the connection after the host's last step with a polite close, not an abort:
        on an abort the kernel ends the TCP connection at once, and over loopback the client
        pays for the peer's side of it too (1 ms per host on the benchmark machine); after a
        close sshd tears the session down in its own time. Idle shells still end at EOF."""
        conn = self._conn
        self._forget_connection()
        if conn is not None:
            conn.close()

    async def close(self) -> None:
        """Kill what still runs (busy shell, oneshots: whole process groups), then disconnect.

        An idle shell needs no kill: it ends when the connection closes its stdin. So closing
        a host with nothing running costs no round trip, which matters on 500 hosts.
        """
        conn = self._conn
        if conn is None:
            return
        await self._drop_become_shells()
        pgids = await self._kill_running_oneshots()
        shell = self._shell
        if shell is not None and shell.alive and shell.busy and shell.pgid is not None:
            pgids.append(shell.pgid)
        await self._kill_groups(pgids, "KILL")
        if self._shell is not None:
            self._shell.alive = False
        self._forget_connection()
        conn.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.wait_closed(), INTERRUPT_GRACE)
