"""A POSIX shell over a console line, framed by markers (the console twin of `shell.py`).

Learned from labgrid's ShellDriver: once logged in, one line turns the terminal's echo off
(`stty -echo`), empties the prompts and defines `__runbook_run() { eval "$__runbook_cmd"; }`.
Each command is then sent as one line

    __runbook_cmd='<command>'; printf '<M>:B:\\n'; __runbook_run </dev/null; printf '<M>:%d:\\n' "$?"

so its output is what comes between the begin marker and the end marker, which carries the
real exit status; `( __runbook_run )` runs it in a subshell for `oneshot`. Anything the line
shows before the begin marker (an echo the device still does, a late prompt) is dropped.
From the output, terminal control sequences and CRs are removed, and so is console noise
(by default the kernel's `[  12.345678] ...` messages, `strip_noise`). What the line brings
between the markers also goes to the run's transcript as it arrives (`console_tap`).

A timeout types ^C and then a resync marker until it comes back: the shell state survives.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

from runbook._lazyimport import lazy_module
from runbook.errors import ExpectTimeoutError, StreamEndedError
from runbook.hosts.console_tap import MarkerTap, ignore, tapped
from runbook.hosts.expect import Expecter, strip_terminal_codes
from runbook.hosts.output import OutputSink
from runbook.hosts.shelltext import quote
from runbook.results import CommandStatus, Status

if TYPE_CHECKING:
    import asyncio
else:
    asyncio = lazy_module("asyncio")

#: Console noise removed from command output: the start of a kernel message (`[  12.345678] `,
#: the kernel's `%5lu.%06lu` timestamp), wherever on a line it begins.
DEFAULT_NOISE_PATTERNS = (r"(?:<\d+>)?\[ *\d+\.\d{6}\] ",)
INTERRUPT_GRACE = 5.0
RESYNC_EVERY = 1.0
START_TIMEOUT = 15.0
#: Seconds without an answer after which the set-up line is typed again.
RETYPE_AFTER = 3.0
#: Seconds the line is given to take a ^C before the set-up line is typed again.
CTRL_C_SETTLE = 0.3


class ConsoleShell:
    """The marker protocol on one logged-in console line; one command at a time."""

    def __init__(self, line: Expecter, enter: str, noise: Sequence[str]) -> None:
        self.line = line
        self.enter = enter
        self.marker = f"__runbook_{secrets.token_hex(8)}__"
        tag = re.escape(self.marker)
        self._begin = re.compile(tag + r":B:\r?\n")
        self._end = re.compile(tag + r":(-?\d+):\r?\n")
        self._resync = re.compile(tag + r":R:\r?\n")
        self._noise = [re.compile(p) for p in noise]
        self.alive = True

    @classmethod
    async def start(cls, line: Expecter, enter: str, noise: Sequence[str],
                    timeout: float = START_TIMEOUT) -> ConsoleShell:
        """Set the shell up on the line; ExpectTimeoutError / StreamEndedError when it does not answer."""
        shell = cls(line, enter, noise)
        init = ("stty -echo 2>/dev/null; set +o emacs +o vi 2>/dev/null; PS1=''; PS2=''; "
                "unset PROMPT_COMMAND; TERM=dumb; export TERM; "
                "__runbook_run() { eval \"$__runbook_cmd\"; }; "
                f"printf '%s:%d:\\n' {quote(shell.marker)} \"$$\"")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        retyping = False
        while True:
            # Typed-ahead input can be lost while a login hands the line to the shell (a
            # terminal flush), or half eaten by a program still reading the line (sudo's pty
            # relay after an `interact`), which leaves the shell inside an open quote: send the
            # set-up line again, after a ^C that empties the shell's input, until the shell
            # answers. Answers to earlier copies are harmless: a command's output starts after
            # its begin marker.
            if retyping:
                line.send("\x03")
                await line.settle(CTRL_C_SETTLE)
            line.send(init + enter)
            retyping = True
            wait = min(RETYPE_AFTER, deadline - loop.time())
            try:
                await line.expect(shell._end, max(0.01, wait))
                return shell
            except ExpectTimeoutError:
                if loop.time() >= deadline:
                    raise

    def clean(self, text: str) -> str:
        """Output as the command wrote it: no terminal codes, CRs or console messages."""
        return strip_noise(strip_terminal_codes(text), self._noise)

    async def execute(self, command: str, timeout: float | None, *, subshell: bool = False,
                      sink: OutputSink | None = None) -> CommandStatus:
        """Run one command; on timeout interrupt it with ^C and keep the shell if it resyncs.

        `sink` gets the output as it arrives, as received, without the markers (`MarkerTap`),
        after what the line brought since the last command (a kernel message while the board
        was idle) less runbook's own lines (set-up answers, an echo of the framing).
        """
        run = "( __runbook_run )" if subshell else "__runbook_run"
        m = quote(self.marker)
        self.line.send(f"__runbook_cmd={quote(command)}; printf '%s:B:\\n' {m}; "
                       f"{run} </dev/null; printf '%s:%d:\\n' {m} \"$?\"{self.enter}")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        tap = MarkerTap(sink or ignore, self.marker)
        try:
            before, begin = await self.line.expect(self._begin, timeout)
            left = None if deadline is None else max(0.01, deadline - loop.time())
            tap.feed("".join(ln for ln in before[: begin.start()].splitlines(keepends=True)
                             if self.marker not in ln) + self.line.pending)
            with tapped(self.line, tap.feed):
                output, match = await self.line.expect(self._end, left)
        except ExpectTimeoutError:
            tap.close()
            return await self._interrupt(command, timeout)
        except StreamEndedError:
            tap.close()
            self.alive = False
            note = "runbook: the console line closed while the command ran"
            return CommandStatus(command, _with_note(self.clean(self.line.pending), note),
                                 Status.Error, None)
        retcode = int(match.group(1))
        status = Status.Success if retcode == 0 else Status.Failed
        return CommandStatus(command, self.clean(output[: match.start()]), status, retcode)

    async def _interrupt(self, command: str, timeout: float | None) -> CommandStatus:
        partial = self.clean(self._begin.sub("", self.line.pending))
        note = f"runbook: command timed out after {timeout:g} s"
        self.line.send("\x03")
        if await self.resync():
            note += "; it was interrupted with ^C and the shell state was kept"
        else:
            self.alive = False
            note += " and ^C did not bring the shell back; the next command sets it up again"
        return CommandStatus(command, _with_note(partial, note), Status.Error, None)

    async def resync(self, grace: float = INTERRUPT_GRACE) -> bool:
        """Type a resync marker until the shell prints it (^C may flush what was typed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while loop.time() < deadline:
            self.line.send(f"printf '%s:R:\\n' {quote(self.marker)}{self.enter}")
            try:
                await self.line.expect(self._resync, min(RESYNC_EVERY, deadline - loop.time()))
            except (ExpectTimeoutError, StreamEndedError):
                if self.line.ended:
                    return False
                continue
            await self.line.drain(0.2)  # later copies of the resync marker
            return True
        return False


def strip_noise(text: str, noise: Sequence[re.Pattern[str]]) -> str:
    """`text` without console messages: where a noise pattern matches on a line, the rest of
    that line goes, line break included. A message that began after other text of the line
    (the kernel writes wherever the cursor is) thus lets the line go on after it: the halves of
    an interrupted line are joined again. A line break before a message is kept: it cannot be
    told from the end of the line before (docs/consoles.md)."""
    kept = []
    for line in text.splitlines(keepends=True):
        cuts = [m.start() for p in noise if (m := p.search(line))]
        kept.append(line[: min(cuts)] if cuts else line)
    return "".join(kept)


def _with_note(output: str, note: str) -> str:
    sep = "" if not output or output.endswith("\n") else "\n"
    return f"{output}{sep}{note}\n"
