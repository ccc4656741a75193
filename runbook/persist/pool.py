"""The keeper's side of warm re-runs: SSH connections kept across runs, hosts that use them.

`ConnectionPool` holds one asyncssh connection (and its SFTP client) per connection spec:
address, port, user, credentials, key files (path and modification time), known_hosts, jump
chain. `PooledHost` is a `RemoteHost` of one client session that takes its connection from the
pool: its persistent shells are its own (a run never sees another run's `cd` or `export`),
the connection is shared with the earlier runs of the same user.

Spare shells: when a session that used a host's shell has ended, the pool starts one new
shell on that connection (`warm`), which the next run's host takes over instead of opening
one (`take_spare`). It has never run a command, so nothing of any run is in it; it only
moves the shell's start (a session channel, bash's start) out of the next run.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook._dataclass import mutable
from runbook._lazyimport import lazy_module
from runbook.hosts.ssh import RemoteHost
from runbook.persist.pacing import PacedChannel

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable

    import asyncssh

    from runbook.hosts.become import Become
    from runbook.hosts.shell import PersistentShell
    from runbook.persist.pacing import Pace
else:
    asyncio = lazy_module("asyncio")

#: Spec fields that choose the connection (become settings do not: sudo runs inside it).
CONNECTION_FIELDS = ("address", "port", "user", "password", "keys", "key_passphrase",
                     "connect_timeout", "host_key_checking", "known_hosts", "keepalive",
                     "agent", "max_sessions")
#: Seconds a run's first command waits for a spare shell that is still starting.
SPARE_WAIT = 5.0
#: Spec fields passed on to RemoteHost as they are.
_HOST_FIELDS = (*CONNECTION_FIELDS, "become", "become_user", "become_password")


def _stamp(path: str | None) -> list[int] | None:
    """Size and mtime of a file the connection was made with: an edited key or known_hosts
    file gets a new connection."""
    if path is None:
        return None
    try:
        info = Path(path).stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def pool_key(spec: dict[str, Any]) -> str:
    """A digest of everything that chose how `spec`'s connection was made (secrets included,
    so two passwords never share a connection; the digest keeps them out of any listing)."""
    chosen = {name: spec.get(name) for name in CONNECTION_FIELDS}
    chosen["stamps"] = [_stamp(k) for k in spec.get("keys") or []] + [_stamp(spec.get("known_hosts"))]
    hop = spec.get("hop")
    chosen["hop"] = pool_key(hop) if isinstance(hop, dict) else None
    return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()


def describe(spec: dict[str, Any]) -> str:
    """`user@address:port`, with the jump hosts (for `runbook persist --status`)."""
    text = f"{spec.get('user') or ''}{'@' if spec.get('user') else ''}{spec['address']}:{spec['port']}"
    hop = spec.get("hop")
    return f"{text} via {describe(hop)}" if isinstance(hop, dict) else text


@mutable
class Kept:
    """One kept connection and what the status shows of it."""

    conn: asyncssh.SSHClientConnection
    label: str
    opened: float = field(default_factory=time.time)
    sftp: asyncssh.SFTPClient | None = None
    uses: int = 0
    spare: PersistentShell | None = None
    spare_channel: PacedChannel | None = None
    warming: asyncio.Task[None] | None = None


class ConnectionPool:
    """Connections by `pool_key`; a closed one (host restarted, network cut) is re-opened on
    the next use. `opened` counts handshakes, `reused` requests served without one."""

    def __init__(self) -> None:
        self._kept: dict[str, Kept] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.opened = 0
        self.reused = 0
        self.log: Callable[[str], None] = lambda text: None

    async def get(self, key: str, label: str,
                  opener: Callable[[], Awaitable[asyncssh.SSHClientConnection]]
                  ) -> asyncssh.SSHClientConnection:
        """The live connection for `key`, made with `opener` when there is none."""
        kept = self._kept.get(key)
        if kept is None or kept.conn.is_closed():
            async with self._locks.setdefault(key, asyncio.Lock()):
                kept = self._kept.get(key)
                if kept is None or kept.conn.is_closed():
                    if kept is not None:
                        self.log(f"dropped {kept.label}: the connection was lost")
                    kept = Kept(await opener(), label)
                    self._kept[key] = kept
                    self.opened += 1
                    self.log(f"connected {label}")
                    return kept.conn
        kept.uses += 1
        self.reused += 1
        return kept.conn

    async def sftp(self, key: str, conn: asyncssh.SSHClientConnection) -> asyncssh.SFTPClient:
        """The SFTP client of `key`'s connection (started once per connection)."""
        kept = self._kept.get(key)
        if kept is None or kept.conn is not conn:
            return await conn.start_sftp_client()
        async with self._locks.setdefault(key, asyncio.Lock()):
            if kept.sftp is None:
                kept.sftp = await conn.start_sftp_client()
            return kept.sftp

    async def take_spare(self, key: str, conn: asyncssh.SSHClientConnection,
                         pace: Pace | None) -> PersistentShell | None:
        """The spare shell started on `conn` for `key`, if it is still alive (taken: once);
        its output is read at the pace of the session that took it. One still starting is
        waited for (bounded): it began before a new shell would, so it is ready sooner."""
        kept = self._kept.get(key)
        if kept is not None and kept.warming is not None and not kept.warming.done():
            await asyncio.wait({kept.warming}, timeout=SPARE_WAIT)
        if kept is None or kept.conn is not conn or kept.spare is None:
            return None
        spare, kept.spare = kept.spare, None
        if not spare.alive or spare.closing():
            spare.detach()
            return None
        if kept.spare_channel is not None:
            kept.spare_channel.pace = pace
        return spare

    def warm(self, key: str) -> None:
        """Start a spare shell on `key`'s connection in the background (one at most)."""
        kept = self._kept.get(key)
        if (kept is None or kept.conn.is_closed() or kept.spare is not None
                or (kept.warming is not None and not kept.warming.done())):
            return

        async def start() -> None:
            try:
                shell, channel = await _start_shell(kept.conn)
            except Exception:  # a spare is an optimisation; the run opens its own shell
                return
            if self._kept.get(key) is kept and kept.spare is None:
                kept.spare, kept.spare_channel = shell, channel
            else:
                shell.detach()

        kept.warming = asyncio.create_task(start())

    def warming(self) -> int:
        """Spare shells still starting (the benchmark waits for none, to time runs apart)."""
        return sum(1 for k in self._kept.values() if k.warming is not None and not k.warming.done())

    def drop(self, key: str) -> None:
        """Forget `key`'s connection and cut it (the host was power-cycled)."""
        kept = self._kept.pop(key, None)
        if kept is not None:
            kept.conn.abort()
            self.log(f"dropped {kept.label}")

    def live(self) -> list[Kept]:
        """The connections still open; dead ones are forgotten on the way."""
        for key in [k for k, kept in self._kept.items() if kept.conn.is_closed()]:
            self.log(f"dropped {self._kept.pop(key).label}: the connection was lost")
        return list(self._kept.values())

    async def close(self) -> None:
        """Close every connection (the keeper is exiting)."""
        kept, self._kept = list(self._kept.values()), {}
        for item in kept:
            item.conn.close()
        for item in kept:
            try:
                await asyncio.wait_for(item.conn.wait_closed(), 2.0)
            except (Exception, TimeoutError):
                item.conn.abort()


async def _no_signal(pgid: int, signal: str) -> None:
    """A spare shell runs nothing until a host takes it over (and hands it its signaller)."""


async def _start_shell(conn: asyncssh.SSHClientConnection
                       ) -> tuple[PersistentShell, PacedChannel]:
    from runbook.hosts.shell import PersistentShell
    from runbook.hosts.shelltext import SHELL_COMMAND
    from runbook.hosts.sshconnect import CHANNEL_WINDOW

    process = await conn.create_process(SHELL_COMMAND, encoding=None, window=CHANNEL_WINDOW)
    channel = PacedChannel(process)
    return await PersistentShell.start(channel, _no_signal), channel


class PooledHost(RemoteHost):
    """A client session's SSH host whose connection lives in the keeper's pool.

    Its shells and running commands are the session's: `close()` kills what still runs and
    ends the shells, `release()` ends idle shells; neither closes the kept connection.
    `reset_connection()` drops it from the pool (after a power action the host rebooted).
    """

    def __init__(self, spec: dict[str, Any], pool: ConnectionPool,
                 pace: Pace | None = None) -> None:
        fields = {name: spec[name] for name in _HOST_FIELDS if name in spec}
        keys = fields.pop("keys", None)
        hop = spec.get("hop")
        super().__init__(spec["id"], key=keys,
                         hop=PooledHost(hop, pool, pace) if isinstance(hop, dict) else None,
                         **fields)
        self._pool = pool
        #: Waits while the session's run reads streamed output slower than it comes.
        self.pace = pace
        self._agent_path = spec.get("agent_path")
        self.pool_key = pool_key(spec)
        self.label = describe(spec)
        #: This session ran commands in a login shell here: a spare is worth starting after it.
        self.used_shell = False

    async def connection(self) -> asyncssh.SSHClientConnection:
        self._conn = await self._pool.get(self.pool_key, self.label, self._connect)
        return self._conn

    def _connect_options(self) -> dict[str, Any]:
        options = super()._connect_options()
        if self.agent and self._agent_path:  # the client's agent, not the keeper's environment
            options["agent_path"] = self._agent_path
        return options

    async def _get_shell(self, timeout: float | None, who: Become | None = None
                         ) -> PersistentShell:
        """The session's shell; a new login shell is the pool's spare when one is ready."""
        if who is None:
            self.used_shell = True
            if self._shell is None or not self._shell.alive:
                spare = await self._pool.take_spare(self.pool_key, await self.connection(),
                                                    self.pace)
                if spare is not None:
                    spare.hand_to(self._signal_group)
                    self._shell = spare
        return await super()._get_shell(timeout, who)

    async def _open_shell_channel(self) -> PacedChannel:
        from runbook.hosts.shelltext import SHELL_COMMAND

        return PacedChannel(await self._open_channel(SHELL_COMMAND), self.pace)

    async def _open_command_channel(self, command: str) -> PacedChannel:
        return PacedChannel(await self._open_channel(command), self.pace)

    async def _sftp_client(self) -> asyncssh.SFTPClient:
        conn = await self.connection()
        return await self._pool.sftp(self.pool_key, conn)

    def _end_shells(self, shells: list[PersistentShell | None]) -> None:
        for shell in shells:
            if shell is not None:
                shell.detach()
        self._shell = None
        self._become_shells = {}
        self._conn = None

    async def release(self) -> None:
        """End this session's shells (idle ones exit at end of input); keep the connection."""
        self._end_shells([self._shell, *self._become_shells.values()])

    async def close(self) -> None:
        """Kill what this session still runs (whole process groups), end its shells."""
        if self._conn is None:
            return
        shells = [self._shell, *self._become_shells.values()]
        await self._drop_become_shells()  # kills the busy ones, through sudo
        pgids = await self._kill_running_oneshots()
        shell = self._shell
        if shell is not None and shell.alive and shell.busy and shell.pgid is not None:
            pgids.append(shell.pgid)
        await self._kill_groups(pgids, "KILL")
        self._end_shells(shells)

    async def reset_connection(self) -> None:
        await self.release()
        self._pool.drop(self.pool_key)
