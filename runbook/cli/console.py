"""What `runbook apply` shows: live result lines, a progress line, the recap table.

A subscriber of the engine's events. Colour and the transient progress line only appear on a
terminal and never when NO_COLOR is set; piped output is plain lines. Everything it prints
comes from results whose output is already masked; step names and commands pass through
`mask` too.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from rich.console import Console as RichConsole
from rich.table import Table
from rich.text import Text

from runbook.engine.events import (
    Event,
    HostResult,
    PlannedHost,
    Progress,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from runbook.engine.results import HostStatus, HostStepResult, RunOutcome, RunStatus

_STYLE = {
    HostStatus.SUCCESS: "green",
    HostStatus.FAILED: "bold red",
    HostStatus.ERROR: "bold red",
    HostStatus.SKIPPED: "cyan",
    HostStatus.UNREACHABLE: "bold magenta",
}
_LABEL = {
    HostStatus.SUCCESS: "ok",
    HostStatus.FAILED: "FAILED",
    HostStatus.ERROR: "ERROR",
    HostStatus.SKIPPED: "skipped",
    HostStatus.UNREACHABLE: "UNREACHABLE",
}
# The progress line is redrawn at most this often (seconds): 500 results arriving together
# must not mean 500 terminal redraws.
PROGRESS_INTERVAL = 0.1
# Output lines shown under a failure without -v (the reports keep everything).
FAILURE_TAIL = 40


def _identity(text: str) -> str:
    return text


class Console:
    """Event subscriber printing the live view of a run (or a plan) to `stream`."""

    def __init__(self, *, verbose: int = 0, stream: TextIO | None = None,
                 color: bool | None = None, mask: Callable[[str], str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.verbose = verbose
        self.mask = mask or _identity
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        no_color = bool(os.environ.get("NO_COLOR")) or not self.terminal
        if color is not None:
            no_color = not color
        self.rich = RichConsole(file=self.stream, no_color=no_color, highlight=False,
                                soft_wrap=True, emoji=False, markup=False,
                                force_terminal=self.terminal and not no_color,
                                color_system=None if no_color else "auto")
        self._steps = 0
        self._host_width = 0
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

    # -- events -----------------------------------------------------------------------------
    def _run_started(self, event: RunStarted) -> None:
        self._steps = event.steps
        self._check = event.check
        self._host_width = min(24, max((len(h) for h in event.hosts), default=4))
        what = "plan of" if event.check else "running"
        steps = "1 step" if event.steps == 1 else f"{event.steps} steps"
        hosts = "1 host" if len(event.hosts) == 1 else f"{len(event.hosts)} hosts"
        self._print(Text(f"{what} {self.mask(event.runbook)}: {steps} on {hosts}", style="bold"))

    def _step_started(self, event: StepStarted) -> None:
        self._clear_progress()
        if self._check:
            how = "one host at a time" if event.limit == 1 else f"up to {event.limit} at a time"
            extra = f", {how}" if event.total > 1 else ""
        else:
            extra = "" if event.total <= 1 else (
                ", one host at a time" if event.limit == 1 else f", {event.limit} at a time")
        if event.skipped:
            extra += f"; {event.skipped} skipped after earlier failures"
        hosts = "1 host" if event.total == 1 else f"{event.total} hosts"
        self._print(Text(f"step {event.index + 1}/{self._steps}: {self.mask(event.name)} "
                         f"({event.action}, {hosts}{extra})", style="bold blue"))

    def _host_result(self, event: HostResult) -> None:
        result = event.result
        if (result.status is HostStatus.SKIPPED and not self.verbose
                and not result.message.startswith("skipped: when")):
            return  # sitting out after an earlier failure: counted in the step header; -v lists

        self._clear_progress()
        line = Text()
        line.append(time.strftime("%H:%M:%S", time.localtime(result.ended)), style="dim")
        line.append("  ")
        line.append(self.mask(event.step_name))
        line.append("  ")
        line.append(result.host_id.ljust(self._host_width))
        line.append("  ")
        label = _LABEL[result.status] + (" (ignored)" if result.ignored else "")
        line.append(label.ljust(11), style=_STYLE[result.status])
        line.append(f" {result.duration:6.2f}s", style="dim")
        if result.message:
            line.append(f"  {result.message}")
        self._print(line)
        self._body(result)

    def _body(self, result: HostStepResult) -> None:
        show = self.verbose > 0 or (not result.status.is_ok and result.status
                                    is not HostStatus.UNREACHABLE)
        if not show or not result.output:
            return
        lines = result.output.rstrip("\n").split("\n")
        if self.verbose == 0 and len(lines) > FAILURE_TAIL:
            hidden = len(lines) - FAILURE_TAIL
            lines = [f"... ({hidden} lines above; see the reports or use -v)",
                     *lines[-FAILURE_TAIL:]]
        self._print(Text("\n".join("    | " + x for x in lines), style="dim"
                         if result.status.is_ok else ""))

    def _planned(self, event: PlannedHost) -> None:
        for i, text in enumerate(event.lines):
            head = event.host_id.ljust(self._host_width) if i == 0 else " " * self._host_width
            style = "bold red" if text.startswith("ERROR") else ""
            self._print(Text(f"  {head}  {text}", style=style))

    def _progress(self, event: Progress) -> None:
        if not self.terminal or event.total < 2 or event.done >= event.total:
            return
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        text = f"  ... {self.mask(event.step_name)}: {event.done}/{event.total} hosts done"
        self.stream.write("\r\x1b[2K" + text[: max(10, self.rich.width - 1)])
        self.stream.flush()
        self._progress_drawn = True

    def _clear_progress(self) -> None:
        if self._progress_drawn:
            self.stream.write("\r\x1b[2K")
            self._progress_drawn = False

    def _print(self, text: Text) -> None:
        self.rich.print(text)

    # -- recap ------------------------------------------------------------------------------
    def recap(self, outcome: RunOutcome) -> None:
        """The table of per-host counts, then the run's status and total time."""
        if outcome.check:
            ok = outcome.status is RunStatus.SUCCESS
            verdict = "plan is valid" if ok else "plan has errors"
            self._print(Text(f"{verdict}: nothing was run", style="bold" if ok else "bold red"))
            return
        table = Table(title="recap", title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("host")
        for name in ("ok", "failed", "skipped", "unreachable"):
            table.add_column(name, justify="right")
        for host_id, counts in outcome.host_counts().items():
            bad = counts[HostStatus.FAILED] + counts[HostStatus.ERROR]
            row_style = "red" if bad or counts[HostStatus.UNREACHABLE] else None
            table.add_row(host_id, str(counts[HostStatus.SUCCESS]), str(bad),
                          str(counts[HostStatus.SKIPPED]), str(counts[HostStatus.UNREACHABLE]),
                          style=row_style)
        self.rich.print()
        self.rich.print(table)
        style = {RunStatus.SUCCESS: "bold green", RunStatus.FAILED: "bold red",
                 RunStatus.INTERRUPTED: "bold yellow"}[outcome.status]
        line = Text(f"{outcome.status.value} in {outcome.duration:.2f}s", style=style)
        if outcome.error:
            line.append(f" (internal error: {self.mask(outcome.error)})")
        self._print(line)

    def note(self, message: str) -> None:
        """A one-off line from the CLI (e.g. 'interrupted, cleaning up')."""
        self._clear_progress()
        self._print(Text(message, style="bold yellow"))
        self.stream.flush()
