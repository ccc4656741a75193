"""`KeptHost`: an SSH host of a run driven through the connection keeper (warm re-runs).

`keep_connections(lab, idle)` puts a `KeptHost` in place of each plain SSH host of the lab
(console hosts, `shell: cli` hosts and hosts a site drives stay as they are). A kept host
checks its arguments here, as `RemoteHost` does, and sends each call to the keeper, which
runs it with the `RemoteHost` code on a connection it keeps between runs. Local paths of
`put` / `get` travel as absolute paths: the keeper is this user on this machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook._lazyimport import lazy_module
from runbook.errors import HostUnreachableError, KeeperError
from runbook.hosts.base import Host
from runbook.hosts.contract import check_command, check_timeout, command_list
from runbook.hosts.output import DEFAULT_OUTPUT_LIMIT, BoundedOutput, OutputSink
from runbook.hosts.transfer import PathLike, as_paths, missing_sources
from runbook.persist.codec import command_from_json, run_from_json, transfer_from_json
from runbook.results import CommandStatus, RunResult, Status

if TYPE_CHECKING:
    import asyncio

    from runbook.hosts.hostlog import HostLog
    from runbook.hosts.lab import Lab
    from runbook.hosts.shell import ShellChannel
    from runbook.hosts.ssh import RemoteHost
    from runbook.persist.client import KeeperClient
else:
    asyncio = lazy_module("asyncio")


def host_spec(host: RemoteHost) -> dict[str, Any]:
    """What the keeper needs to connect to `host` (and its jump hosts) as this run would."""
    return {
        "id": host.id, "address": host.address, "port": host.port, "user": host.user,
        "password": host.password, "keys": [str(k) for k in host.keys],
        "key_passphrase": host.key_passphrase, "connect_timeout": host.connect_timeout,
        "host_key_checking": host.host_key_checking,
        "known_hosts": str(host.known_hosts) if host.known_hosts else None,
        "keepalive": host.keepalive, "agent": host.agent,
        "agent_path": os.environ.get("SSH_AUTH_SOCK"), "max_sessions": host.max_sessions,
        "become": host.become, "become_user": host.become_user,
        "become_password": host.become_password,
        "hop": host_spec(host.hop) if host.hop is not None else None,
    }


def _absolute(path: PathLike) -> str:
    """A local path for the keeper, which runs in another folder (not resolved: symlinks stay)."""
    return str(Path.cwd() / path)


class KeeperLink:
    """The run's one session with the keeper, opened on first use."""

    def __init__(self, idle: float) -> None:
        self.idle = idle
        self._client: KeeperClient | None = None
        self._lock: asyncio.Lock | None = None
        self._handles = 0

    def handle(self) -> int:
        self._handles += 1
        return self._handles

    async def client(self) -> KeeperClient:
        from runbook.persist.client import KeeperClient

        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._client is None:
                self._client = await KeeperClient.open(self.idle)
            return self._client


class KeptHost(Host):
    """A lab SSH host whose calls the keeper runs (see module docstring)."""

    transport = "ssh"

    def __init__(self, remote: RemoteHost, link: KeeperLink) -> None:
        super().__init__(remote.id, vars=remote.vars, power_control=remote.power_control,
                         become=remote.become, become_user=remote.become_user,
                         become_password=remote.become_password)
        self.address = remote.address
        self.port = remote.port
        self.user = remote.user
        self.hop = remote.hop
        self.connect_timeout = remote.connect_timeout
        self._spec = host_spec(remote)
        self._link = link
        self._handle = link.handle()
        self._client: KeeperClient | None = None

    async def _call(self, op: str, sink: OutputSink | None = None, **fields: Any) -> Any:
        if self._client is None:
            try:
                client = await self._link.client()
            except KeeperError as exc:
                raise HostUnreachableError(self.id, self.address, str(exc),
                                           port=self.port) from exc
            client.send({"op": "host", "host": self._handle, "spec": self._spec})
            self._client = client
            if self.notes is not None:
                self.notes(f"through the connection keeper (pid {client.keeper_pid}): the "
                           "connection is reused when an earlier run left one")
        try:
            return await self._client.call({"op": op, "host": self._handle, **fields}, sink)
        except KeeperError as exc:
            raise HostUnreachableError(self.id, self.address, str(exc), port=self.port) from exc

    def _who(self, become: bool | None, become_user: str | None) -> dict[str, Any]:
        self.become_for(become, become_user)  # a bad become_user fails here, before sending
        return {"become": become, "become_user": become_user}

    async def run(self, cmds: str | Sequence[str], timeout: float | None = None, *,
                  become: bool | None = None, become_user: str | None = None,
                  output_limit: int = DEFAULT_OUTPUT_LIMIT,
                  sink: OutputSink | None = None) -> RunResult:
        commands = command_list(cmds)
        check_timeout(timeout)
        BoundedOutput(output_limit)
        reply = await self._call("run", sink, cmds=commands, timeout=timeout,
                                 output_limit=output_limit, **self._who(become, become_user))
        return run_from_json(reply)

    async def oneshot(self, cmd: str, timeout: float | None = None, *,
                      become: bool | None = None, become_user: str | None = None,
                      output_limit: int = DEFAULT_OUTPUT_LIMIT,
                      sink: OutputSink | None = None) -> CommandStatus:
        check_command(cmd, timeout)
        BoundedOutput(output_limit)
        reply = await self._call("oneshot", sink, cmd=cmd, timeout=timeout,
                                 output_limit=output_limit, **self._who(become, become_user))
        return command_from_json(reply)

    async def put(self, src_files: PathLike | Sequence[PathLike], dest_dir: PathLike,
                  mode: int | None = None, *, become: bool | None = None,
                  become_user: str | None = None) -> tuple[Status, str]:
        sources = as_paths(src_files)
        if problem := missing_sources(sources):
            return Status.Error, problem
        reply = await self._call("put", src=[_absolute(p) for p in sources],
                                 dest=str(dest_dir), mode=mode, **self._who(become, become_user))
        return transfer_from_json(reply)

    async def get(self, src_files: PathLike | Sequence[PathLike], dest_dir: PathLike, *,
                  become: bool | None = None, become_user: str | None = None
                  ) -> tuple[Status, str]:
        items = [src_files] if isinstance(src_files, str | Path) else list(src_files)
        reply = await self._call("get", src=[str(i) for i in items],
                                 dest=_absolute(dest_dir),
                                 **self._who(become, become_user))
        return transfer_from_json(reply)

    async def interact(self, pairs: Sequence[Mapping[str, Any]], timeout: float | None = None,
                       *, pair_timeout: float | None = None,
                       mask: Callable[[str], str] | None = None,
                       log: HostLog | None = None) -> CommandStatus:
        """The dialog runs in the keeper; the transcript gets its whole output at the end
        (the keeper does not stream a dialog's keys and text back as they happen)."""
        from runbook.hosts.interact import parse_pairs

        check_timeout(timeout)
        parse_pairs(pairs, pair_timeout)
        result = command_from_json(await self._call(
            "interact", pairs=[dict(p) for p in pairs], timeout=timeout,
            pair_timeout=pair_timeout))
        if log is not None:
            log.output(result.output.encode())
        return result._replace(output=mask(result.output)) if mask else result

    async def power(self, action: str) -> tuple[Status, str]:
        """Power through the controller, then drop the kept connection: the host rebooted."""
        try:
            return await super().power(action)
        finally:
            if self._client is not None:
                await self._call("reset")

    async def reset_connection(self) -> None:
        """End this run's shells on the host; the keeper keeps the connection."""
        if self._client is not None:
            await self._call("release")

    async def close(self) -> None:
        """Kill what this run still runs on the host and end its shells."""
        if self._client is not None:
            await self._call("close")

    async def _open_shell_channel(self) -> ShellChannel:
        raise NotImplementedError("a kept host's shell lives in the keeper")

    async def _signal_group(self, pgid: int, signal: str) -> None:
        raise NotImplementedError("a kept host's processes are signalled by the keeper")


def keep_connections(lab: Lab, idle: float) -> int:
    """Drive the lab's plain SSH hosts through the keeper (idle exit after `idle` seconds);
    how many hosts that is."""
    from runbook.hosts.ssh import RemoteHost

    link = KeeperLink(idle)
    kept = [KeptHost(h, link) for h in lab.hosts
            if type(h) is RemoteHost and h.id not in lab.site_of]
    for host in kept:
        lab.replace(host)
    return len(kept)
