"""`ConsoleHost`: a POSIX shell on a telnet port or a serial line (`shell: posix`).

The host keeps one line open: it logs in when it has a `user`, sets the marker-framed shell up
(`console_shell.ConsoleShell`) and runs every command there, one at a time. `run` keeps shell
state; `oneshot` runs in a subshell on the same line, after the commands queued before it;
`put` / `get` move files as base64 (`console_files`); `interact` types on the line as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runbook._lazyimport import lazy_module
from runbook.errors import ConfigError, ExpectTimeoutError, HostUnreachableError, StreamEndedError
from runbook.hosts.console_files import get_files, put_files
from runbook.hosts.console_shell import DEFAULT_NOISE_PATTERNS, START_TIMEOUT, ConsoleShell
from runbook.hosts.contract import check_command
from runbook.hosts.linehost import LineHost
from runbook.hosts.links import Link, Login, open_line, shows_prompt
from runbook.hosts.output import DEFAULT_OUTPUT_LIMIT, OutputSink, bounded_status
from runbook.hosts.transfer import PathLike
from runbook.results import CommandStatus, Status

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from runbook.hosts.base import PowerControl as PowerController
    from runbook.hosts.expect import Expecter
    from runbook.hosts.hostlog import HostLog
    from runbook.hosts.shell import ShellChannel
else:
    asyncio = lazy_module("asyncio")




class ConsoleHost(LineHost):
    """A host whose shell is reached on a console line (`TelnetLink` or `SerialLink`)."""

    no_become = "become is not supported on a console host (log in as the user you need)"

    def __init__(self, id: str, link: Link, *, login: Login | None = None,
                 noise_patterns: Sequence[str] = DEFAULT_NOISE_PATTERNS,
                 vars: dict[str, Any] | None = None,
                 power_control: PowerController | None = None) -> None:
        super().__init__(id, link, login=login, vars=vars, power_control=power_control)
        self.noise_patterns = tuple(noise_patterns)
        for pattern in self.noise_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"host {id!r}: noise pattern {pattern!r} is not a valid "
                                  f"regex: {exc}") from None
        self._line: Expecter | None = None
        self._console: ConsoleShell | None = None

    async def _open(self) -> Expecter:
        if self._line is None or self._line.ended:
            self._console = None
            lost = self._line is not None  # dropped on purpose (close, power) is None
            self._line = await open_line(self.id, self.link, self.login, None, log=self.transcript,
                                         again=lost)
        return self._line

    async def _shell_on_line(self) -> ConsoleShell:
        if self._console is not None and self._console.alive and not self._console.line.ended:
            return self._console
        line = await self._open()
        try:
            self._console = await ConsoleShell.start(line, self.link.enter, self.noise_patterns)
        except (ExpectTimeoutError, StreamEndedError) as exc:
            await self._drop_line()
            raise HostUnreachableError(self.id, self.address,
                                       f"no POSIX shell answered on the line within "
                                       f"{START_TIMEOUT:g} s ({exc or 'the line closed'})") from None
        return self._console

    async def _drop_line(self) -> None:
        line, self._line, self._console = self._line, None, None
        if line is not None:
            await line.stream.close()

    # -- commands -------------------------------------------------------------------------
    async def _command_session(self) -> ConsoleShell:
        return await self._shell_on_line()

    async def oneshot(self, cmd: str, timeout: float | None = None, *,
                      become: bool | None = None, become_user: str | None = None,
                      output_limit: int = DEFAULT_OUTPUT_LIMIT, sink: OutputSink | None = None
                      ) -> CommandStatus:
        """Run one command in a subshell on the line (shell state untouched); queued, not parallel."""
        self.refuse_become(become, become_user, self.no_become)
        check_command(cmd, timeout)
        async with self._lock():
            shell = await self._shell_on_line()
            return bounded_status(await shell.execute(cmd, timeout, subshell=True, sink=sink),
                                  output_limit)

    async def put(self, src_files: PathLike | Sequence[PathLike], dest_dir: PathLike,
                  mode: int | None = None, *, become: bool | None = None,
                  become_user: str | None = None) -> tuple[Status, str]:
        """Copy local files into `dest_dir` over the line (base64, sha256-checked, size-limited)."""
        self.refuse_become(become, become_user, self.no_become)
        return await put_files(self._transfer_line, src_files, dest_dir, mode, self.transcript)

    async def get(self, src_files: PathLike | Sequence[PathLike],
                  dest_dir: PathLike, *, become: bool | None = None,
                  become_user: str | None = None) -> tuple[Status, str]:
        """Copy files of the board into the local folder `dest_dir` (base64, sha256-checked)."""
        self.refuse_become(become, become_user, self.no_become)
        return await get_files(self._transfer_line, src_files, dest_dir, self.transcript)

    async def _transfer_line(self, command: str, timeout: float | None,
                             sink: OutputSink | None) -> CommandStatus:
        """One command line of a transfer: a oneshot keeping all of its output (limit 0), since
        `get` decodes it: the usual first and last 64 KiB would cut a file over about 96 KiB."""
        return await self.oneshot(command, timeout, output_limit=0, sink=sink)

    async def interact(self, pairs: Sequence[Mapping[str, Any]], timeout: float | None = None,
                       *, pair_timeout: float | None = None,
                       mask: Callable[[str], str] | None = None,
                       log: HostLog | None = None) -> CommandStatus:
        """Run an expect/send dialog on the line as it is (see `Host.interact`).

        The shell is set up again before the next command, since the dialog may have changed
        what runs on the line (a reboot, a bootloader).
        """
        from runbook.hosts.interact import run_dialog

        async with self._lock():
            line = await self._open()
            self._console = None
            return await run_dialog(line, pairs, timeout, pair_timeout=pair_timeout, mask=mask,
                                    log=log)

    async def _probe(self, timeout: float) -> bool:
        """Up (power `wait_up`) once a fresh line shows the login prompt, or a shell prompt
        on a line without login or still logged in: the board can be logged into."""
        async with self._lock():
            await self._drop_line()
            try:
                stream = await asyncio.wait_for(self.link.open(), timeout)
            except Exception:  # OSError, TimeoutError, pyserial's SerialException and friends
                return False
            up = await shows_prompt(stream, self.link.enter, self.login, timeout, self.transcript)
            if self.transcript is not None:
                self.transcript.note("wait_up: " + ("the line shows a prompt" if up else
                                                    f"no prompt within {timeout:g} s"))
            return up

    async def close(self) -> None:
        await self._drop_line()

    async def _open_shell_channel(self) -> ShellChannel:
        raise NotImplementedError("a console host runs commands on its line, not in a channel")

    async def _signal_group(self, pgid: int, signal: str) -> None:
        raise NotImplementedError("a console host interrupts with ^C on its line")
