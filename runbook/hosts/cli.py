"""`CliHost`: a network device's command line (`shell: cli`) over SSH, telnet or serial.

A CLI has a prompt instead of a shell protocol and no exit codes. A command is typed with
Enter; its output is what comes until the prompt shows again, without the echoed command line;
it fails when a line of it matches one of `error_patterns` (default `^% `, as in
`% Unknown command.`). The prompt regex is matched at the end of the received text, so
configuration modes that change it (`router1(config)#`) are followed: `current_prompt` says
where the session is. `setup` commands (`terminal length 0`) run once per session, after login.

Written here rather than with scrapli: scrapli brings its own transports and connection
handling, while runbook already has the SSH connection (hops, keys, known_hosts) and the
telnet / serial streams; what a CLI needs on top is the prompt loop below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runbook._lazyimport import lazy_module
from runbook.errors import ExpectTimeoutError, HostUnreachableError, StreamEndedError
from runbook.hosts.console_tap import PromptTap, ignore, is_echo, received, tapped, typed
from runbook.hosts.contract import check_command
from runbook.hosts.expect import Expecter, strip_terminal_codes
from runbook.hosts.linehost import LineHost
from runbook.hosts.links import WAKE_AFTER, Link, Login, SshLink, open_line
from runbook.hosts.output import DEFAULT_OUTPUT_LIMIT, OutputSink
from runbook.hosts.transfer import PathLike
from runbook.results import CommandStatus, Status

if TYPE_CHECKING:
    import asyncio

    from runbook.hosts.base import PowerControl as PowerController
    from runbook.hosts.hostlog import HostLog
    from runbook.hosts.shell import ShellChannel
else:
    asyncio = lazy_module("asyncio")

#: Fits `router1>`, `router1#`, `router1(config)#`, `router1(config-if)#`, `user@mx1>`.
DEFAULT_PROMPT = r"^[\w.@/:-]+(\([\w.@/:+ -]*\))?[#>]"
DEFAULT_ERROR_PATTERNS = (r"^% ",)
START_TIMEOUT = 20.0
INTERRUPT_GRACE = 5.0


def compile_prompt(prompt: str) -> re.Pattern[str]:
    """The prompt regex, required at the very end of the received text."""
    return re.compile(f"(?:{prompt})[ \\t]*\\Z", re.MULTILINE)


class CliSession:
    """The prompt loop on one logged-in CLI line."""

    def __init__(self, line: Expecter, enter: str, prompt: re.Pattern[str],
                 errors: Sequence[re.Pattern[str]], log: HostLog | None = None) -> None:
        self.line = line
        #: Told each key typed while set: the session's set-up goes to the transcript that way.
        self.log = log
        self.enter = enter
        self.prompt = prompt
        self.errors = list(errors)
        self.current_prompt = ""
        self.alive = True

    async def wait_prompt(self, timeout: float) -> None:
        """Wait for the prompt, pressing Enter once if the line stays quiet."""
        try:
            _, match = await self.line.expect(self.prompt, min(WAKE_AFTER, timeout))
        except ExpectTimeoutError:
            typed(self.line, self.enter, self.log)
            _, match = await self.line.expect(self.prompt, timeout)
        self.current_prompt = match.group(0).strip()

    async def execute(self, command: str, timeout: float | None,
                      sink: OutputSink | None = None) -> CommandStatus:
        """Type `command`, read until the prompt; Failed when the output matches an error pattern.

        `sink` gets the output as it arrives, as received (`console_tap.PromptTap`).
        """
        tap = PromptTap(sink or ignore, command)
        tap.feed(self.line.pending)
        typed(self.line, command + self.enter, self.log)
        try:
            with tapped(self.line, tap.feed):
                consumed, match = await self.line.expect(self.prompt, timeout)
        except ExpectTimeoutError:
            tap.close()
            return await self._interrupt(command, timeout)
        except StreamEndedError:
            tap.close()
            self.alive = False
            output = _without_echo(strip_terminal_codes(self.line.pending), command)
            return CommandStatus(command, output + "runbook: the CLI session closed\n",
                                 Status.Error, None)
        tap.close(match.end() - match.start())
        self.current_prompt = match.group(0).strip()
        output = _without_echo(strip_terminal_codes(consumed[: match.start()]), command)
        failed = any(p.search(output) for p in self.errors)
        return CommandStatus(command, output, Status.Failed if failed else Status.Success, None)

    async def _interrupt(self, command: str, timeout: float | None) -> CommandStatus:
        partial = _without_echo(strip_terminal_codes(self.line.pending), command)
        note = f"runbook: command timed out after {timeout:g} s"
        self.line.send("\x03")
        try:
            await self.wait_prompt(INTERRUPT_GRACE)
            note += "; ^C brought the prompt back"
        except (ExpectTimeoutError, StreamEndedError):
            self.alive = False
            note += " and ^C did not bring the prompt back; the next command reconnects"
        sep = "" if not partial or partial.endswith("\n") else "\n"
        return CommandStatus(command, f"{partial}{sep}{note}\n", Status.Error, None)


def _without_echo(text: str, command: str) -> str:
    """Output without the echoed command line (the first line, when it shows the command)."""
    first, _, rest = text.partition("\n")
    return rest if is_echo(first, command) else text


class CliHost(LineHost):
    """A host whose commands go to a prompt-driven CLI (see module docstring)."""

    no_become = "become is not supported on a `shell: cli` host (a network CLI has no sudo)"

    def __init__(self, id: str, link: Link, *, login: Login | None = None,
                 prompt: str = DEFAULT_PROMPT, setup: Sequence[str] = (),
                 error_patterns: Sequence[str] = DEFAULT_ERROR_PATTERNS,
                 vars: dict[str, Any] | None = None,
                 power_control: PowerController | None = None) -> None:
        super().__init__(id, link, login=login, vars=vars, power_control=power_control)
        self.prompt = prompt
        self._prompt = compile_prompt(prompt)
        self.setup = list(setup)
        self.error_patterns = list(error_patterns)
        self._errors = [re.compile(p, re.MULTILINE) for p in self.error_patterns]
        self._session: CliSession | None = None

    @property
    def current_prompt(self) -> str:
        """The prompt last seen (`router1(config)#` while in configuration mode)."""
        return self._session.current_prompt if self._session else ""

    async def _cli(self) -> CliSession:
        """The live session, or a new one: connect, log in, wait for the prompt, run `setup`."""
        if self._session is not None and self._session.alive and not self._session.line.ended:
            return self._session
        lost = self._session is not None  # dropped on purpose (close, power) is None
        await self._drop_session()
        line = await open_line(self.id, self.link, self.login, self._prompt, log=self.transcript,
                               again=lost)
        session = CliSession(line, self.link.enter, self._prompt, self._errors, self.transcript)
        with received(line, self.transcript):
            await self._set_up(session)
        session.log = None
        if self.transcript is not None:  # also ends the set-up's text, which ends in a prompt
            self.transcript.note(f"CLI ready at the prompt {session.current_prompt!r}")
        self._session = session
        return session

    async def _set_up(self, session: CliSession) -> None:
        """Wait for the first prompt and run `setup`; HostUnreachableError (the line closed)
        when either fails. The transcript gets all of it as received, each key as typed."""
        try:
            await session.wait_prompt(START_TIMEOUT)
        except (ExpectTimeoutError, StreamEndedError) as exc:
            await session.line.stream.close()
            raise HostUnreachableError(self.id, self.address, f"no CLI prompt matching "
                                       f"{self.prompt!r} came: {exc or 'the session closed'}") from None
        for command in self.setup:
            result = await session.execute(command, START_TIMEOUT)
            if not result.status.is_ok:
                await session.line.stream.close()
                raise HostUnreachableError(self.id, self.address, f"setup command {command!r} "
                                           f"failed: {result.output.strip()}")

    async def _drop_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.line.stream.close()

    async def _command_session(self) -> CliSession:
        return await self._cli()

    async def oneshot(self, cmd: str, timeout: float | None = None, *,
                      become: bool | None = None, become_user: str | None = None,
                      output_limit: int = DEFAULT_OUTPUT_LIMIT, sink: OutputSink | None = None
                      ) -> CommandStatus:
        """One command at the same prompt (a CLI has no subshell); queued behind `run`."""
        self.refuse_become(become, become_user, self.no_become)
        check_command(cmd, timeout)
        return (await self.run(cmd, timeout, output_limit=output_limit, sink=sink)).only

    async def put(self, src_files: PathLike | Sequence[PathLike], dest_dir: PathLike,
                  mode: int | None = None, *, become: bool | None = None,
                  become_user: str | None = None) -> tuple[Status, str]:
        return Status.Error, f"host {self.id!r}: put is not supported on a `shell: cli` host"

    async def get(self, src_files: PathLike | Sequence[PathLike],
                  dest_dir: PathLike, *, become: bool | None = None,
                  become_user: str | None = None) -> tuple[Status, str]:
        return Status.Error, f"host {self.id!r}: get is not supported on a `shell: cli` host"

    async def interact(self, pairs: Sequence[Mapping[str, Any]], timeout: float | None = None,
                       *, pair_timeout: float | None = None,
                       mask: Callable[[str], str] | None = None,
                       log: HostLog | None = None) -> CommandStatus:
        """Run an expect/send dialog in the CLI session as it is (see `Host.interact`)."""
        from runbook.hosts.interact import run_dialog

        async with self._lock():
            session = await self._cli()
            result = await run_dialog(session.line, pairs, timeout, pair_timeout=pair_timeout,
                                      mask=mask, log=log)
            try:
                await session.wait_prompt(INTERRUPT_GRACE)
            except (ExpectTimeoutError, StreamEndedError):
                session.alive = False  # the dialog left the CLI elsewhere: reconnect next time
            return result

    async def _probe(self, timeout: float) -> bool:
        """Reachable (for power `wait_up`) when a new session gets to the prompt after setup."""
        await self.reset_connection()
        try:
            async with self._lock():
                await asyncio.wait_for(self._cli(), timeout)
        except (HostUnreachableError, TimeoutError, OSError):
            return False
        return True

    async def close(self) -> None:
        await self._drop_session()
        if isinstance(self.link, SshLink):
            await self.link.remote.close()

    async def _open_shell_channel(self) -> ShellChannel:
        raise NotImplementedError("a CLI host types at a prompt, it has no shell channel")

    async def _signal_group(self, pgid: int, signal: str) -> None:
        raise NotImplementedError("a CLI host interrupts with ^C")
