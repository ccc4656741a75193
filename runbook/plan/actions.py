"""Concrete actions: one frozen record per action kind, every template already rendered.

The compiler (or, for steps that need earlier results, the renderer at run time) turns a
step's `model` action into one of these for one host; the engine dispatches on their type.
`describe()` gives the dry-run lines (a power action is described by its controller instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


def _command_lines(kind: str, commands: tuple[str, ...], expect_output: str | None,
                   expect_not_output: str | None) -> list[str]:
    lines = [f"{kind}: {c}" for c in commands]
    if expect_output is not None:
        lines.append(f"expect output to match: {expect_output}")
    if expect_not_output is not None:
        lines.append(f"expect output not to match: {expect_not_output}")
    return lines


@dataclass(frozen=True, slots=True)
class RunCommands:
    """Commands for the host's persistent shell, with the step's `expect` regexes for this host."""

    kind: ClassVar[str] = "run"
    commands: tuple[str, ...]
    expect_output: str | None = None
    expect_not_output: str | None = None

    def describe(self) -> list[str]:
        """Dry-run lines: each command, then the expected output patterns."""
        return _command_lines(self.kind, self.commands, self.expect_output, self.expect_not_output)


@dataclass(frozen=True, slots=True)
class OneshotCommands:
    """Commands each run in a fresh process, with the step's `expect` regexes for this host."""

    kind: ClassVar[str] = "oneshot"
    commands: tuple[str, ...]
    expect_output: str | None = None
    expect_not_output: str | None = None

    def describe(self) -> list[str]:
        """Dry-run lines: each command, then the expected output patterns."""
        return _command_lines(self.kind, self.commands, self.expect_output, self.expect_not_output)


@dataclass(frozen=True, slots=True)
class PutFiles:
    """Upload `sources` (absolute local paths) into the remote folder `dest`.

    `content` is set when the file is a template: this host's rendered text replaces the file.
    """

    kind: ClassVar[str] = "put"
    sources: tuple[str, ...]
    dest: str
    mode: int | None = None
    content: str | None = None

    def describe(self) -> list[str]:
        """Dry-run lines: one per source."""
        mode = f" (mode {self.mode:04o})" if self.mode is not None else ""
        what = "rendered template " if self.content is not None else ""
        return [f"put {what}{s} -> {self.dest}{mode}" for s in self.sources]


@dataclass(frozen=True, slots=True)
class GetFiles:
    """Download remote `sources` into the local folder `dest` (which ends in the host id)."""

    kind: ClassVar[str] = "get"
    sources: tuple[str, ...]
    dest: str

    def describe(self) -> list[str]:
        """Dry-run lines: one per source."""
        return [f"get {s} -> {self.dest}" for s in self.sources]


@dataclass(frozen=True, slots=True)
class PowerSwitch:
    """Power `verb` (on, off, cycle, status) through the host's controller, then the waits."""

    kind: ClassVar[str] = "power"
    verb: str
    wait_up: float | None = None
    wait_down: float | None = None

    def wait_lines(self) -> list[str]:
        """The waits after the power change, in the order they happen."""
        waits = []
        if self.wait_down is not None:
            waits.append(f"wait until down ({self.wait_down:g}s)")
        if self.wait_up is not None:
            waits.append(f"wait until up ({self.wait_up:g}s)")
        return waits

    def describe(self) -> list[str]:
        """One dry-run line (without the controller's own description)."""
        waits = self.wait_lines()
        return [f"power {self.verb}" + (", then " + ", ".join(waits) if waits else "")]


ConcreteAction = RunCommands | OneshotCommands | PutFiles | GetFiles | PowerSwitch
"""Any concrete action; the engine matches on the type."""
