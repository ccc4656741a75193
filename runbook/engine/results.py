"""Per-host step results and their aggregates: what the engine records and the reports print.

Layers (as in nornir): one host's step (`HostStepResult`), one step across hosts
(`StepOutcome`), the whole run (`RunOutcome`). One host's exception ends up in that host's
result as status `error` or `unreachable`; it never aborts the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from runbook.results import Status

STEP_WORDS = ("success", "failed", "error", "skipped", "unreachable")
"""How a step can end on a host, as reports write it (`HostStepResult.word`)."""


class RunStatus(StrEnum):
    """Outcome of a whole run."""

    SUCCESS = "success"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(slots=True)
class HostStepResult:
    """One step on one host.

    `output` is already masked (safe to print); `message` explains an error, a skip or an
    ignored failure in one line; `started`/`ended` are epoch seconds (equal for a skip).
    `state` is the power state for `power: status`; `attempts` counts retries + 1.
    `command` is what was sent (rendered, masked; one line per command or transfer), empty
    when nothing ran (skip, template error).
    """

    host_id: str
    status: Status
    rc: int | None = None
    output: str = ""
    started: float = 0.0
    ended: float = 0.0
    message: str = ""
    ignored: bool = False
    attempts: int = 1
    state: str | None = None
    unreachable: bool = False
    command: str = ""

    @property
    def word(self) -> str:
        """The status as reports write it: "unreachable" for an unreachable host's Error."""
        return "unreachable" if self.unreachable else self.status.word

    @property
    def duration(self) -> float:
        """Seconds the step took on this host."""
        return max(0.0, self.ended - self.started)

    def to_dict(self) -> dict[str, Any]:
        """The report form: always `status`, `rc`, `output`, `started`, `ended`; extras if set."""
        data: dict[str, Any] = {
            "status": self.word,
            "rc": self.rc,
            "output": self.output,
            "started": round(self.started, 6),
            "ended": round(self.ended, 6),
        }
        if self.message:
            data["message"] = self.message
        if self.ignored:
            data["ignored"] = True
        if self.attempts != 1:
            data["attempts"] = self.attempts
        if self.state is not None:
            data["state"] = self.state
        if self.command:
            data["command"] = self.command
        return data


@dataclass(slots=True)
class StepOutcome:
    """One step across its target hosts; `results` keeps the lab order of the targets."""

    index: int
    name: str
    action: str
    location: str
    results: dict[str, HostStepResult] = field(default_factory=dict)
    started: float | None = None
    ended: float | None = None

    def count(self, word: str) -> int:
        """How many hosts ended this step with the status `word` ("failed", "unreachable", ...)."""
        return sum(1 for r in self.results.values() if r.word == word)


@dataclass(slots=True)
class RunOutcome:
    """A whole run: per-step outcomes in runbook order, the run status and its time span."""

    runbook: str
    runbook_path: str
    lab_path: str | None
    hosts: list[str]
    steps: list[StepOutcome]
    started: float
    ended: float | None = None
    status: RunStatus = RunStatus.SUCCESS
    check: bool = False
    error: str | None = None
    run_id: str | None = None  # set when the run is recorded in a run folder (runbook.records)
    #: The run this one repairs (`apply --rerun-failed RUN`); its results are merged in.
    repairs: str | None = None
    #: The lab locks the run held (runbook.locks.HeldLocks.to_dict), None when it took none.
    locks: dict[str, Any] | None = None

    @property
    def duration(self) -> float:
        """Seconds from start to end (to now's last known end while running)."""
        return max(0.0, (self.ended or self.started) - self.started)

    def host_counts(self) -> dict[str, dict[str, int]]:
        """Per host (lab order), how many steps ended with each status: the recap table."""
        counts: dict[str, dict[str, int]] = {
            h: dict.fromkeys(STEP_WORDS, 0) for h in self.hosts
        }
        for step in self.steps:
            for host_id, result in step.results.items():
                counts.setdefault(host_id, dict.fromkeys(STEP_WORDS, 0))[result.word] += 1
        return counts

    def any_failed(self) -> bool:
        """True when a host failed (not ignored), errored or was unreachable in any step."""
        return any(
            not r.status.is_ok and not r.ignored
            for step in self.steps
            for r in step.results.values()
        )
