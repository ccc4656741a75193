"""Per-host step results and their aggregates: what the engine records and the reports print.

Layers (as in nornir): one host's step (`HostStepResult`), one step across hosts
(`StepOutcome`), the whole run (`RunOutcome`). One host's exception ends up in that host's
result as status `error` or `unreachable`; it never aborts the others.
"""

from __future__ import annotations

import time
from dataclasses import field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from runbook._dataclass import mutable
from runbook.model import Step
from runbook.results import Status

if TYPE_CHECKING:
    from runbook.plan.compiler import Plan

STEP_WORDS = ("success", "failed", "error", "skipped", "unreachable")
"""How a step can end on a host, as reports write it (`HostStepResult.word`)."""


class RunStatus(StrEnum):
    """Outcome of a whole run."""

    SUCCESS = "success"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@mutable(slots=True)
class HostStepResult:
    """One step on one host.

    `output` is already masked (safe to print); `message` explains an error, a skip or an
    ignored failure in one line; `started`/`ended` are epoch seconds (equal for a skip).
    `state` is the power state for `power: status`; `attempts` counts retries + 1.
    `command` is what was sent (rendered, masked; one line per command or transfer, a loop's
    prefixed with the item), empty when nothing ran (skip, template error).
    `rescued`: a failure inside a block that the block's `rescue` recovered (shown, counted,
    but it does not fail the run); `items`: a loop's per-item results.
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
    items: list[dict[str, Any]] | None = None
    rescued: bool = False

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
        if self.rescued:
            data["rescued"] = True
        if self.items is not None:
            data["items"] = self.items
        return data


@mutable(slots=True)
class StepOutcome:
    """One step across its target hosts; `results` keeps the lab order of the targets.

    `path` is the step's ancestry (`block 'upgrade'/rescue > roll back`), `frames` the same
    as data for reports (kind, name, section, file:line of each enclosing block / include).
    """

    index: int
    name: str
    action: str
    location: str
    results: dict[str, HostStepResult] = field(default_factory=dict)
    started: float | None = None
    ended: float | None = None
    path: str = ""
    frames: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, step: Step) -> StepOutcome:
        """The empty record of `step`, with its path in the step tree."""
        frames = [{"kind": f.kind, "name": f.name, "location": str(f.location),
                   **({"section": f.phase} if f.phase else {})} for f in step.frames]
        return cls(step.index, step.name, step.action.kind, str(step.location),
                   path=step.path, frames=frames, tags=sorted(step.tags))

    def count(self, word: str) -> int:
        """How many hosts ended this step with the status `word` ("failed", "unreachable", ...)."""
        return sum(1 for r in self.results.values() if r.word == word)


@mutable(slots=True)
class BatchOutcome:
    """One rolling batch: its hosts and when it ran, or why it did not start.

    `block` names the block whose `batch` made it (None: the runbook's `batch`).
    """

    number: int
    total: int
    hosts: list[str]
    block: str | None = None
    started: float | None = None
    ended: float | None = None
    not_started: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report form."""
        data: dict[str, Any] = {"number": self.number, "of": self.total, "hosts": self.hosts,
                                "started": self.started, "ended": self.ended}
        if self.block is not None:
            data["block"] = self.block
        if self.not_started is not None:
            data["not_started"] = self.not_started
        return data


@mutable(slots=True)
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
    #: Host id → the site whose worker drove it (multi-site runs, docs/sites.md).
    sites: dict[str, str] = field(default_factory=dict)
    batches: list[BatchOutcome] = field(default_factory=list)
    rescued: dict[str, int] = field(default_factory=dict)

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

    def judged_status(self) -> RunStatus:
        """The status a finished run's record earns: failed when its engine stopped on an
        internal error (`error`) or a host failed in a step (`any_failed`), else success.
        One judgement for a local run, a dry run, a multi-site run and a restarted run merged
        with the earlier one."""
        failed = self.error is not None or self.any_failed()
        return RunStatus.FAILED if failed else RunStatus.SUCCESS

    def any_failed(self) -> bool:
        """True when a host failed (not ignored), errored or was unreachable in any step."""
        return any(
            not r.status.is_ok and not r.ignored and not r.rescued
            for step in self.steps
            for r in step.results.values()
        )


def outcome_for(plan: Plan) -> RunOutcome:
    """The empty record of a run of `plan`: every step (with its path), no results yet."""
    runbook = plan.runbook
    return RunOutcome(
        runbook=runbook.name, runbook_path=str(runbook.path),
        lab_path=str(plan.lab.path) if plan.lab.path else None,
        hosts=[h.id for h in plan.hosts],
        steps=[StepOutcome.of(p.step) for p in plan.steps],
        started=time.time())
