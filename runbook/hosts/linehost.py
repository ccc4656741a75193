"""`LineHost`: what a console host and a network-CLI host share (the base of `ConsoleHost`
and `CliHost`).

Both reach a device through a `Link` (telnet, serial, or for a CLI also SSH), log in with an
optional `Login`, and type one command at a time on that line: commands are serialised by one
lock, `run` stops at the first failure, and become is refused (log in as the user you need).
A subclass says how to get the live session that executes a command (`_command_session`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from runbook._lazyimport import lazy_module
from runbook.hosts.base import Host
from runbook.hosts.contract import check_timeout, command_list, run_in_order
from runbook.hosts.links import Link, Login, SerialLink, SshLink, TelnetLink
from runbook.hosts.output import DEFAULT_OUTPUT_LIMIT, OutputSink, bounded_status
from runbook.results import CommandStatus, RunResult

if TYPE_CHECKING:
    import asyncio

    from runbook.hosts.base import PowerControl as PowerController
else:
    asyncio = lazy_module("asyncio")


class LineSession(Protocol):
    """A live session on the line that runs one command (`ConsoleShell`, `CliSession`)."""

    async def execute(self, command: str, timeout: float | None, *,
                      sink: OutputSink | None = None) -> CommandStatus: ...


class LineHost(Host):
    """A host driven over one line; subclasses set `no_become` and `_command_session`."""

    #: Why `become` is refused on this kind of host (the message of a step that asks for it).
    no_become = "become is not supported on this host"

    def __init__(self, id: str, link: Link, *, login: Login | None = None,
                 vars: dict[str, Any] | None = None,
                 power_control: PowerController | None = None) -> None:
        super().__init__(id, vars=vars, power_control=power_control)
        self.link = link
        self.transport = link.transport
        self.login = login
        if isinstance(link, SshLink):
            self.address, self.port, self.user = link.remote.address, link.remote.port, link.remote.user
        else:
            self.address = link.address if isinstance(link, TelnetLink) else link.describe()
            self.port = link.port if isinstance(link, TelnetLink) else None
            self.user = login.user if login else None
        self._line_lock: asyncio.Lock | None = None

    @property
    def baud(self) -> int | None:
        return self.link.baud if isinstance(self.link, SerialLink) else None

    def _lock(self) -> asyncio.Lock:
        """The one lock every use of the line takes: a line runs one thing at a time."""
        if self._line_lock is None:
            self._line_lock = asyncio.Lock()
        return self._line_lock

    async def _command_session(self) -> LineSession:
        """The live session commands run in (connecting and setting it up when needed)."""
        raise NotImplementedError

    async def run(self, cmds: str | Sequence[str], timeout: float | None = None, *,
                  become: bool | None = None, become_user: str | None = None,
                  output_limit: int = DEFAULT_OUTPUT_LIMIT, sink: OutputSink | None = None
                  ) -> RunResult:
        """Run command(s) on the line, one at a time; a list stops at the first failure."""
        self.refuse_become(become, become_user, self.no_become)
        commands = command_list(cmds)
        check_timeout(timeout)

        async def execute(command: str) -> CommandStatus:
            session = await self._command_session()
            return bounded_status(await session.execute(command, timeout, sink=sink), output_limit)

        async with self._lock():
            return await run_in_order(commands, execute)
