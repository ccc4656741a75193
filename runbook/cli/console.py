"""What `runbook apply` shows: live result lines, a progress line, the recap table.

A subscriber of the engine's events. Colour and the transient progress line only appear on a
terminal and never when NO_COLOR is set; piped output is plain lines. Everything it prints
leaves through `_write` (or the progress line), which passes every piece of text through
`mask` and then `visible_controls` before painting it: one masking point for the console,
whatever the text came from, and no remote control sequence (a retitle, a screen clear)
reaching the user's terminal raw.

Lines are formatted as plain strings and written straight to the stream: at 500 hosts a
rich renderable per line cost ~1 ms each, more than the engine itself. rich is imported only
on a colour terminal, where it picks the colour system and renders each style's escape codes
once (cached).
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from runbook.cli.terminal import ellipsis_for, line_width, shorten, visible_controls
from runbook.cli.treeview import batch_line, recap_notes, sitting_out
from runbook.engine.events import (
    BatchSkipped,
    BatchStarted,
    Event,
    HostResult,
    PlannedHost,
    Progress,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from runbook.engine.results import HostStepResult, RunOutcome, RunStatus
from runbook.results import Status

if TYPE_CHECKING:
    from rich.console import Console as RichConsole

#: A piece of a console line: plain text, or (text, rich style) to paint it.
Piece = str | tuple[str, str]

# Keyed by `HostStepResult.word`.
_STYLE = {
    "success": "green",
    "failed": "bold red",
    "error": "bold red",
    "skipped": "cyan",
    "unreachable": "bold magenta",
}
_LABEL = {
    "success": "ok",
    "failed": "FAILED",
    "error": "ERROR",
    "skipped": "skipped",
    "unreachable": "UNREACHABLE",
}
_RUN_STYLE = {RunStatus.SUCCESS: "bold green", RunStatus.FAILED: "bold red",
              RunStatus.INTERRUPTED: "bold yellow"}
# The progress line is redrawn at most this often (seconds): 500 results arriving together
# must not mean 500 terminal redraws.
PROGRESS_INTERVAL = 0.1
# Output lines shown under a failure without -v (the reports keep everything).
FAILURE_TAIL = 40
# Live line columns: time, step name, host, status, duration, each two spaces apart.
_STATUS_WIDTH = 11
_FIXED_WIDTH = len("HH:MM:SS") + 2 + 2 + 2 + _STATUS_WIDTH + 2 + len("000.00s")
# Step names and host ids are never cut shorter than this, however narrow the terminal.
_MIN_NAME_WIDTH = 12
_MIN_HOST_WIDTH = 12


def _identity(text: str) -> str:
    return text


def wants_color(stream: TextIO, color: bool | None = None) -> bool:
    """Colour only on a terminal and never with NO_COLOR set (unless forced by `color`)."""
    if color is not None:
        return color
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class _Painter:
    """Wraps text in a style's escape codes (rendered once per style by rich), or not at all."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._codes: dict[str, tuple[str, str]] = {}
        self._console: RichConsole | None = None
        if enabled:
            from rich.console import Console as RichConsole

            self._console = RichConsole(force_terminal=True, no_color=False)
            if self._console.color_system is None:
                self.enabled = False

    def __call__(self, text: str, style: str) -> str:
        if not self.enabled or not style or not text:
            return text
        codes = self._codes.get(style)
        if codes is None:
            from rich.color import ColorSystem
            from rich.style import Style

            assert self._console is not None
            systems = {"standard": ColorSystem.STANDARD, "256": ColorSystem.EIGHT_BIT,
                       "truecolor": ColorSystem.TRUECOLOR, "windows": ColorSystem.WINDOWS}
            system = systems.get(self._console.color_system or "", ColorSystem.STANDARD)
            rendered = Style.parse(style).render("\0", color_system=system)
            before, _, after = rendered.partition("\0")
            codes = self._codes[style] = (before, after)
        return f"{codes[0]}{text}{codes[1]}"


class Console:
    """Event subscriber printing the live view of a run (or a plan) to `stream`."""

    def __init__(self, *, verbose: int = 0, stream: TextIO | None = None,
                 color: bool | None = None, mask: Callable[[str], str] | None = None,
                 width: int | None = None) -> None:
        """`width`: the columns live lines must fit in (default: the terminal's, see
        `terminal.line_width`; None on a pipe without COLUMNS, where names are kept whole)."""
        self.stream = stream or sys.stdout
        self.width = width
        self.ellipsis = ellipsis_for(self.stream)
        self.verbose = verbose
        self.mask = mask or _identity
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.paint = _Painter(wants_color(self.stream, color))
        self._steps = 0
        self._host_width = 0
        self._name_width = 0
        self._progress_drawn = False
        self._last_progress = 0.0
        self._check = False

    # -- dispatch ---------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        if isinstance(event, HostResult):
            self._host_result(event)
        elif isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, StepStarted):
            self._step_started(event)
        elif isinstance(event, PlannedHost):
            self._planned(event)
        elif isinstance(event, StepFinished):
            self._clear_progress()
        elif isinstance(event, RunStarted):
            self._run_started(event)
        elif isinstance(event, RunFinished):
            self._clear_progress()
            self.recap(event.outcome)
            self.stream.flush()
        elif isinstance(event, BatchStarted | BatchSkipped):
            self._clear_progress()
            self._write((batch_line(event), "bold magenta"))

    def _write(self, *pieces: Piece) -> None:
        """Write one line made of `pieces`: plain text, or (text, style) to paint it.

        The console's way out: each piece's text is masked here, before any escape code of
        the painter is added around it."""
        self.stream.write("".join(self._piece(piece) for piece in pieces) + "\n")

    def _piece(self, piece: Piece) -> str:
        text, style = (piece, "") if isinstance(piece, str) else piece
        return self.paint(self._shown(text), style)

    def _shown(self, text: str) -> str:
        """`text` as the console shows it: masked, control characters made visible."""
        return visible_controls(self.mask(text))

    # -- events -----------------------------------------------------------------------------
    def _run_started(self, event: RunStarted) -> None:
        self._steps = event.steps
        self._check = event.check
        self._host_width = min(24, max((len(h) for h in event.hosts), default=4))
        self._name_width = max((len(self._shown(n)) for n in event.step_names), default=0)
        what = "plan of" if event.check else "running"
        steps = "1 step" if event.steps == 1 else f"{event.steps} steps"
        hosts = "1 host" if len(event.hosts) == 1 else f"{len(event.hosts)} hosts"
        self._write((f"{what} {event.runbook}: {steps} on {hosts}", "bold"))

    def _step_started(self, event: StepStarted) -> None:
        self._clear_progress()
        extra = ""
        if event.total > 1:
            if event.limit == 1:
                extra = ", one host at a time"
            elif event.limit < event.total:
                extra = f", {event.limit} at a time"
            else:
                extra = ", all at once"
        if event.skipped:
            extra += f"; {event.skipped} {sitting_out(event.path)}"
        hosts = "1 host" if event.total == 1 else f"{event.total} hosts"
        self._write((f"step {event.index + 1}/{self._steps}: {event.path or event.name} "
                     f"({event.action}, {hosts}{extra})", "bold blue"))
        if not self._check:
            self._last_progress = 0.0
            self._progress(Progress(event.index, event.name, 0, event.total))

    def _host_result(self, event: HostResult) -> None:
        result = event.result
        if (result.status is Status.Skipped and not self.verbose
                and not result.message.startswith("skipped: when")):
            return  # sitting out after an earlier failure: counted in the step header; -v lists
        self._clear_progress()
        label = _LABEL[result.word] + (" (ignored)" if result.ignored else "")
        width = self.width or line_width(self.stream)
        name, host = self._columns(event.step_name, result.host_id, width)
        pieces: list[Piece] = [
            (time.strftime("%H:%M:%S", time.localtime(result.ended)), "dim"), "  ",
            name, "  ", host, "  ",
            (label.ljust(_STATUS_WIDTH), _STYLE[result.word]), "  ",
            (f"{result.duration:6.2f}s", "dim"),
        ]
        message = self._shown(result.message)
        used = _FIXED_WIDTH + len(name) + len(host)
        if message and (width is None or used + 2 + len(message) <= width):
            pieces += ["  ", message]
            message = ""
        self._write(*pieces)
        if message:  # too long to fit beside the columns: its own lines, wrapped to the width
            assert width is not None
            self._write(textwrap.fill(message, width=max(20, width), initial_indent="    ",
                                      subsequent_indent="    "))
        self._body(result)

    def _columns(self, step_name: str, host_id: str, width: int | None) -> tuple[str, str]:
        """The step name and host cells, padded to their columns so host and status line up
        on every line; shortened with an ellipsis (host ids in the middle, where ids of one
        rack differ least) when the line would not fit `width`."""
        name, host = self._shown(step_name), self._shown(host_id)
        name_width = max(self._name_width, len(name))
        host_width = max(self._host_width, 4)
        if width is not None:  # the host column gives way first, down to its minimum
            room = width - _FIXED_WIDTH
            host_width = min(host_width, max(_MIN_HOST_WIDTH,
                                             room - min(name_width, _MIN_NAME_WIDTH)))
            name_width = min(name_width, max(_MIN_NAME_WIDTH, room - host_width))
        name = shorten(name, name_width, ellipsis=self.ellipsis).ljust(name_width)
        host = shorten(host, host_width, ellipsis=self.ellipsis, middle=True).ljust(host_width)
        return name, host

    def _body(self, result: HostStepResult) -> None:
        show = self.verbose > 0 or (not result.status.is_ok and not result.unreachable)
        if not show or not result.output:
            return
        lines = result.output.rstrip("\n").split("\n")
        if self.verbose == 0 and len(lines) > FAILURE_TAIL:
            hidden = len(lines) - FAILURE_TAIL
            lines = [f"... ({hidden} lines above; see the reports or use -v)",
                     *lines[-FAILURE_TAIL:]]
        for line in lines:
            self._write("    | " + line)

    def _planned(self, event: PlannedHost) -> None:
        for i, text in enumerate(event.lines):
            head = event.host_id.ljust(self._host_width) if i == 0 else " " * self._host_width
            style = "bold red" if text.startswith("ERROR") else ""
            self._write((f"  {head}  {text}", style))

    def _progress(self, event: Progress) -> None:
        if not self.terminal or event.total < 2 or event.done >= event.total:
            return
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        width = shutil.get_terminal_size((80, 24)).columns
        text = visible_controls(
            self.mask(f"  ... {event.step_name}: {event.done}/{event.total} hosts done"))
        self.stream.write("\r\x1b[2K" + text[: max(10, width - 1)])
        self.stream.flush()
        self._progress_drawn = True

    def _clear_progress(self) -> None:
        if self._progress_drawn:
            self.stream.write("\r\x1b[2K")
            self._progress_drawn = False

    # -- recap ------------------------------------------------------------------------------
    def recap(self, outcome: RunOutcome) -> None:
        """The table of per-host counts, then the run's status and total time."""
        if outcome.check:
            ok = outcome.status is RunStatus.SUCCESS
            verdict = "plan is valid" if ok else "plan has errors"
            self._write((f"{verdict}: nothing was run", "bold" if ok else "bold red"))
            return
        header = ("host", "ok", "failed", "skipped", "unreachable")
        rows = []
        for host_id, counts in outcome.host_counts().items():
            bad = counts["failed"] + counts["error"]
            site = outcome.sites.get(host_id)  # multi-site runs: who drove the host
            label = f"{host_id} @{site}" if site else host_id
            rows.append((label, counts["success"], bad, counts["skipped"], counts["unreachable"]))
        width = max([len(header[0]), *(len(r[0]) for r in rows)])
        cols = [len(h) for h in header[1:]]
        self._write("")
        self._write(("recap", "bold"))
        self._write(("  ".join([header[0].ljust(width),
                                *(h.rjust(w) for h, w in zip(header[1:], cols, strict=True))]),
                     "bold"))
        for row in rows:
            text = "  ".join([row[0].ljust(width),
                              *(str(v).rjust(w) for v, w in zip(row[1:], cols, strict=True))])
            self._write((text, "red" if row[2] or row[4] else ""))
        for note in recap_notes(outcome):
            self._write((note, "bold magenta"))
        line = f"{outcome.status.value} in {outcome.duration:.2f}s"
        if outcome.error:
            line += f" (internal error: {outcome.error})"
        self._write((line, _RUN_STYLE[outcome.status]))

    def note(self, message: str) -> None:
        """A one-off line from the CLI (e.g. 'interrupted, cleaning up')."""
        self._clear_progress()
        self._write((message, "bold yellow"))
        self.stream.flush()
