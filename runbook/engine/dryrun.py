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
from runbook.engine.events import BatchStarted, EventBus, PlannedHost, StepStarted
from runbook.engine.loop import loop_values, too_many_items
from runbook.engine.results import HostStepResult, RunOutcome
from runbook.errors import RunbookError
from runbook.plan.batches import split
from runbook.plan.placeholders import dry_run_failure, dry_run_result
from runbook.plan.renderer import template_message
from runbook.results import Status

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.plan.compiler import Plan
    from runbook.plan.steps import PlannedStep


MAX_SHOWN_ITEMS = 20


def dry_run(plan: Plan, outcome: RunOutcome, *, forks: int, bus: EventBus,
            mask: Callable[[str], str]) -> None:
    """Fill `outcome` with each host's would-be step (skipped, or failed on a template error)
    and emit `StepStarted` / `PlannedHost` per step and host."""
    placeholders = _placeholders(plan)
    if plan.runbook.batch is not None:
        for number, batch in enumerate(plan.batches, start=1):
            bus.emit(BatchStarted(number, len(plan.batches), tuple(h.id for h in batch)))
    _block_batches(plan, bus)
    for planned, step_outcome in zip(plan.steps, outcome.steps, strict=True):
        step = planned.step
        limit = min(planned.limit or forks, forks, max(1, len(planned.targets)))
        bus.emit(StepStarted(step.index, step.name, step.action.kind, len(planned.targets), limit,
                             path=step.path))
        for number, host in enumerate(planned.targets):
            now = time.time()
            if step.run_once and number:
                lines, error = [f"run_once: runs on {planned.targets[0].id} only, "
                                "result shared"], None
            elif step.loop is not None:
                lines, error = describe_loop(plan, planned, host, placeholders)
            else:
                lines, error = _describe(plan, planned, host, placeholders)
            if step.when is not None:
                lines.insert(0, f"when: {step.when}")
            bus.emit(PlannedHost(step.index, step.name, host.id, tuple(mask(t) for t in lines)))
            step_outcome.results[host.id] = HostStepResult(
                host.id, Status.Failed if error else Status.Skipped,
                started=now, ended=now, message=mask(error or "check: not run"))
        step_outcome.started = step_outcome.ended = time.time()


def _block_batches(plan: Plan, bus: EventBus) -> None:
    """The batches of each block with `batch` (of all its hosts, as in a run without
    runbook-level batches)."""
    order = [h.id for h in plan.hosts]
    for block in plan.runbook.blocks:
        if block.batch is None or block.first < 0:
            continue
        inside = {h.id for p in plan.steps[block.first:block.last + 1] for h in p.targets}
        batches = split([h for h in order if h in inside], block.batch, total=len(order))
        for number, batch in enumerate(batches, start=1):
            bus.emit(BatchStarted(number, len(batches), tuple(batch), block.name))


def _placeholders(plan: Plan) -> dict[str, dict[str, Any]]:
    values: dict[str, Any] = {}
    for planned in plan.steps:
        name = planned.step.register
        if name:
            values[name] = dry_run_result(planned.step)
    values.update(dry_run_failure())
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


def describe_loop(plan: Plan, planned: PlannedStep, host: Host,
                  placeholders: dict[str, dict[str, Any]]) -> tuple[list[str], str | None]:
    """A looped step: its items (when known before the run) and each item's action."""
    step = planned.step
    renderer = plan.renderer
    context = renderer.context(step, host, placeholders)
    try:
        items = loop_values(step, renderer.templater, context)
    except RunbookError as exc:
        if isinstance(step.loop, str):
            return [f"loop {step.loop!r}: items known at run time ({exc})"], None
        message = template_message(step, host, exc)
        return [f"ERROR {message}"], message
    too_many = too_many_items(items)
    if too_many:  # known now, so the run would fail the host: a plan error
        message = template_message(step, host, RunbookError(too_many))
        return [f"ERROR {message}"], message
    try:
        runner = runs_on(step, host, plan.lab)
    except RunbookError as exc:
        return [f"ERROR {exc}"], str(exc)
    lines = [f"loop over {len(items)} item(s) as {step.loop_var}"]
    for item in items[:MAX_SHOWN_ITEMS]:
        try:
            action = renderer.concretize(step, host, {**context, step.loop_var: item})
        except RunbookError as exc:
            lines.append(f"[{item}] (rendered at run time: {exc})")
            continue
        lines += [f"[{item}] {line}" for line in describe_action(action, host, runner)]
    if len(items) > MAX_SHOWN_ITEMS:
        lines.append(f"... and {len(items) - MAX_SHOWN_ITEMS} more item(s)")
    return lines, None
