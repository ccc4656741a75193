"""Results in layers: one command (`CommandStatus`), a list of commands (`RunResult`).

`Status` is the one status vocabulary from a host's command up to a step on a host and the
reports (`runbook.engine.results`), where it is written as its `word` ("success", ...). A host
that cannot be reached raises `HostUnreachableError`; its step ends as an Error marked unreachable.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import NamedTuple


class Status(Enum):
    """Outcome of a command or step. `is_ok` is true for Success and Skipped only."""

    Success = 0
    Failed = 1
    Error = 2
    Skipped = 3
    NotRun = 4

    @property
    def is_ok(self) -> bool:
        """True for Success and Skipped: a host may take part in later steps."""
        return self in (Status.Success, Status.Skipped)

    @property
    def word(self) -> str:
        """How reports and templates write it: "success", "failed", "not_run", ..."""
        return _WORDS[self]


_WORDS = {Status.Success: "success", Status.Failed: "failed", Status.Error: "error",
          Status.Skipped: "skipped", Status.NotRun: "not_run"}


class CommandStatus(NamedTuple):
    """One command's outcome: what ran, what it wrote (stdout and stderr), how it ended."""

    command: str
    output: str
    status: Status
    retcode: int | None


class RunResult:
    """Outcome of a list of commands: the aggregate status is the first non-ok one, else Success."""

    __slots__ = ("status", "statuses")

    def __init__(self, status: Status, statuses: Iterable[CommandStatus]) -> None:
        self.status = status
        self.statuses = list(statuses)

    @classmethod
    def from_statuses(cls, statuses: Iterable[CommandStatus]) -> RunResult:
        """Build a result whose status is the first non-ok status of `statuses`."""
        items = list(statuses)
        status = next((s.status for s in items if not s.status.is_ok), Status.Success)
        return cls(status, items)

    @property
    def only(self) -> CommandStatus:
        """The single entry; ValueError when there is not exactly one."""
        if len(self.statuses) != 1:
            raise ValueError(f"RunResult has {len(self.statuses)} statuses, expected exactly one")
        return self.statuses[0]

    @property
    def output(self) -> str:
        """All commands' output joined, in order."""
        return "".join(s.output for s in self.statuses)

    @property
    def retcode(self) -> int | None:
        """The exit status of the last command that ran."""
        ran = [s for s in self.statuses if s.status is not Status.Skipped]
        return ran[-1].retcode if ran else None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunResult):
            return NotImplemented
        return self.status == other.status and self.statuses == other.statuses

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RunResult(status={self.status!r}, statuses={self.statuses!r})"
