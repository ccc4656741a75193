"""What the executor writes into a run's outcome itself: results no host produced.

A target that never ran a step (its batch never started, the run halted, Ctrl-C) still gets
a result, so every step of the report names every target: `skip_missing` / `mark_not_run`
fill them in as Skipped, `interrupt_running` records the hosts caught mid-step as Error.
Kept apart from `engine.executor`, which decides what runs when; these only record.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from runbook.engine.results import HostStepResult, StepOutcome
from runbook.results import Status

if TYPE_CHECKING:
    from runbook.plan.steps import PlannedStep


def skip_missing(planned: PlannedStep, outcome: StepOutcome, message: str) -> None:
    """Record the step's targets that have no result as Skipped (`message`); the results
    then follow the targets' lab order and the step gets a time span if it had none."""
    now = time.time()
    for host in planned.targets:
        if host.id not in outcome.results:
            outcome.results[host.id] = HostStepResult(host.id, Status.Skipped,
                                                      started=now, ended=now, message=message)
    outcome.results = {h.id: outcome.results[h.id] for h in planned.targets}
    outcome.started = outcome.started or now
    outcome.ended = outcome.ended or now


def mark_not_run(steps: Sequence[PlannedStep], outcomes: Sequence[StepOutcome],
                 message: str) -> None:
    """`skip_missing` on every step that lacks a result for one of its targets."""
    for planned, outcome in zip(steps, outcomes, strict=True):
        if any(h.id not in outcome.results for h in planned.targets):
            skip_missing(planned, outcome, message)


def close_step(planned: PlannedStep, outcome: StepOutcome) -> None:
    """End a step's record: its results in the targets' lab order, its end time now."""
    outcome.results = {h.id: outcome.results[h.id] for h in planned.targets
                       if h.id in outcome.results}
    outcome.ended = time.time()


def interrupt_running(current: StepOutcome, running_since: Mapping[str, float],
                      reason: str) -> list[HostStepResult]:
    """Record the hosts still running `current` (host id -> start time) as Error `reason`;
    return every result of the step that reads so, for the executor to report."""
    now = time.time()
    for host_id, since in running_since.items():
        if host_id not in current.results:
            current.results[host_id] = HostStepResult(
                host_id, Status.Error, None, "", since, now, message=reason)
    return [result for result in current.results.values()
            if result.message == reason and result.status is Status.Error]


def describe_error(exc: BaseException) -> str:
    """`Type: message` of an unexpected error, looking inside TaskGroup exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"
