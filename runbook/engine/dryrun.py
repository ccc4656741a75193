"""The dry run (`runbook plan`, `apply --check`): what each host would do, connecting nothing.

Registered results are stand-ins that print as placeholders (`runbook.plan.placeholders`), so a
step that uses an earlier result still renders; a template that fails for a host fails the plan.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runbook.engine.actions import describe_action
from runbook.engine.delegate import runs_on
from runbook.engine.events import EventBus, PlannedHost, StepStarted
from runbook.engine.results import HostStepResult, RunOutcome
from runbook.errors import RunbookError
from runbook.plan.placeholders import dry_run_result
from runbook.plan.renderer import template_message
from runbook.results import Status

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.plan.compiler import Plan
    from runbook.plan.steps import PlannedStep


def dry_run(plan: Plan, outcome: RunOutcome, *, forks: int, bus: EventBus,
            mask: Callable[[str], str]) -> None:
    """Fill `outcome` with each host's would-be step (skipped, or failed on a template error)
    and emit `StepStarted` / `PlannedHost` per step and host."""
    placeholders = _placeholders(plan)
    for planned, step_outcome in zip(plan.steps, outcome.steps, strict=True):
        step = planned.step
        limit = min(planned.limit or forks, forks, max(1, len(planned.targets)))
        bus.emit(StepStarted(step.index, step.name, step.action.kind, len(planned.targets), limit))
        for number, host in enumerate(planned.targets):
            now = time.time()
            if step.run_once and number:
                lines, error = [f"run_once: runs on {planned.targets[0].id} only, "
                                "result shared"], None
            else:
                lines, error = _describe(plan, planned, host, placeholders)
            if step.when is not None:
                lines.insert(0, f"when: {step.when}")
            bus.emit(PlannedHost(step.index, step.name, host.id, tuple(mask(t) for t in lines)))
            step_outcome.results[host.id] = HostStepResult(
                host.id, Status.Failed if error else Status.Skipped,
                started=now, ended=now, message=mask(error or "check: not run"))
        step_outcome.started = step_outcome.ended = time.time()


def _placeholders(plan: Plan) -> dict[str, dict[str, Any]]:
    values: dict[str, Any] = {}
    for planned in plan.steps:
        name = planned.step.register
        if name:
            values[name] = dry_run_result(planned.step)
    return {h.id: dict(values) for h in plan.hosts}


def _describe(plan: Plan, planned: PlannedStep, host: Host,
              placeholders: dict[str, dict[str, Any]]) -> tuple[list[str], str | None]:
    """The dry-run lines of `host` in `planned`, and the error message when it cannot render."""
    step = planned.step
    if host.id in planned.errors:
        return [f"ERROR {planned.errors[host.id]}"], planned.errors[host.id]
    try:
        action = plan.renderer.action_for(planned, host, placeholders)
    except RunbookError as exc:
        if planned.runtime_render:
            return [f"{step.action.kind}: (rendered at run time: {exc})"], None
        message = template_message(step, host, exc)
        return [f"ERROR {message}"], message
    try:
        runner = runs_on(step, host, plan.lab)
    except RunbookError as exc:
        return [f"ERROR {exc}"], str(exc)
    return describe_action(action, host, runner), None
