"""One step on one host: `when`, the action, `expect`, then `retries` / `until`, and `register`.

The executor schedules hosts; this module decides how a single host's step ends. Everything
here is per host, so one host's trouble (a template error, an unreachable host) ends up in its
own `HostStepResult` and never reaches the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runbook.engine.actions import ActionResult, apply_expect, describe_action, execute
from runbook.engine.delegate import delegate_message, runs_on
from runbook.engine.loop import combine, loop_items, loop_register_value
from runbook.engine.results import HostStepResult
from runbook.errors import RunbookError
from runbook.plan.renderer import template_message
from runbook.render.secrets import mask_strings
from runbook.results import Status

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.hosts.hostlog import HostLog
    from runbook.hosts.lab import Lab
    from runbook.model import Step
    from runbook.plan.actions import ConcreteAction
    from runbook.plan.renderer import ActionRenderer
    from runbook.plan.steps import PlannedStep

Registered = dict[str, dict[str, Any]]
"""Results registered so far: host id -> register name -> {output, rc, status[, state]}."""


def register(registered: Registered, step: Step, host_id: str, status: str, *,
             rc: int | None = None, output: str = "", state: str | None = None,
             elapsed: float | None = None) -> dict[str, Any]:
    """The result value templates see (`r.rc`, ...); stored under `step.register` if it has one.

    A power step adds `state`, a wait_for step `elapsed` (seconds; None when it timed out).
    """
    value: dict[str, Any] = {"output": output, "rc": rc, "status": status}
    if step.action.kind == "power":
        value["state"] = state
    if step.action.kind == "wait_for":
        value["elapsed"] = elapsed
    if step.register:
        registered.setdefault(host_id, {})[step.register] = value
    return value


def registered_value(registered: Registered, step: Step, host_id: str,
                     mask: Callable[[str], str]) -> dict[str, Any] | None:
    """What `register:` stored for `host_id` in `step`, as a masked copy for event subscribers
    (None: the step registers nothing, or nothing was stored)."""
    value = registered.get(host_id, {}).get(step.register) if step.register else None
    if value is None:
        return None
    masked: dict[str, Any] = mask_strings(value, mask)  # a loop's `results` nest deeper
    return masked


class HostStep:
    """Runs `planned` on `host`: build one, `await run()` for the host's result."""

    def __init__(self, planned: PlannedStep, host: Host, renderer: ActionRenderer,
                 registered: Registered, mask: Callable[[str], str], *,
                 log: HostLog | None = None, lab: Lab | None = None) -> None:
        self.planned = planned
        self.step = planned.step
        self.host = host
        #: where the action runs: the target, or its `delegate_to` host (found in `lab`)
        self.lab = lab
        self.runs_on = host
        self.renderer = renderer
        self.registered = registered
        self.mask = mask
        self.log = log
        self.started = time.time()

    async def run(self) -> HostStepResult:
        """The host's result; template errors are failures of this host, never exceptions."""
        step, host = self.step, self.host
        if self.log is not None:
            self.log.note(f"step {step.index + 1} {step.name!r} ({step.action.kind})")
        if step.loop is not None:
            return await self._run_loop()
        try:
            if step.when is not None and not self.renderer.evaluate(
                    step.when, step, host, self.registered):
                register(self.registered, step, host.id, Status.Skipped.word)
                return self._noted(HostStepResult(
                    host.id, Status.Skipped, started=self.started, ended=time.time(),
                    message=f"skipped: when {step.when!r}"))
            action = self.renderer.action_for(self.planned, host, self.registered)
            self.runs_on = runs_on(step, host, self.lab)
            raw, attempt, done = await self._attempts(action)
        except RunbookError as exc:
            return self._noted(self._template_failure(exc))
        result = self._result(raw, attempt, done)
        result.command = self.mask("\n".join(describe_action(action, host, self.runs_on)))
        return result

    async def _run_loop(self) -> HostStepResult:
        """Each item of the host's loop as its own run of the action (see engine/loop.py)."""
        step = self.step
        try:
            items = loop_items(step, self.renderer.templater,
                               self.renderer.context(step, self.host, self.registered))
        except RunbookError as exc:
            return self._template_failure(exc)
        done: list[tuple[Any, HostStepResult]] = []
        for item in items:
            self.started = time.time()
            done.append((item, await self._loop_item(item)))
        result = combine(self.host.id, done[0][1].started if done else time.time(),
                         time.time(), done)
        result.command = "\n".join(f"[{entry['item']}] {line}" for entry, (_, item_result)
                                   in zip(result.items or [], done, strict=True)
                                   for line in item_result.command.splitlines())
        if step.register:
            self.registered.setdefault(self.host.id, {})[step.register] = \
                loop_register_value(result)
        return result

    async def _loop_item(self, item: Any) -> HostStepResult:
        """One item: its `when`, its action, its attempts."""
        step, host = self.step, self.host
        extra = {step.loop_var: item}
        try:
            if step.when is not None and not self.renderer.evaluate(
                    step.when, step, host, self.registered, extra=extra):
                return HostStepResult(host.id, Status.Skipped, started=self.started,
                                      ended=time.time(), message=f"skipped: when {step.when!r}")
            ctx = {**self.renderer.context(step, host, self.registered), **extra}
            action = self.renderer.concretize(step, host, ctx)
            raw, attempt, done = await self._attempts(action, extra)
        except RunbookError as exc:
            return self._template_failure(exc)
        result = self._result(raw, attempt, done)
        result.command = self.mask("\n".join(describe_action(action, host, self.runs_on)))
        return result

    async def _attempts(self, action: ConcreteAction,
                        extra: dict[str, Any] | None = None) -> tuple[ActionResult, int, bool]:
        """Run the action until it succeeds (or `until` holds), at most `retries + 1` times."""
        step = self.step
        attempts = step.retries + 1
        attempt = 1
        while True:
            raw = apply_expect(step, await execute(
                action, self.runs_on, timeout=step.timeout,
                output_limit=self.planned.output_limit, log=self.log), action)
            value = register(self.registered, step, self.host.id, raw.word, rc=raw.rc,
                             output=raw.output, state=raw.state, elapsed=raw.elapsed)
            done = self._judge_until(raw, value, extra) if step.until is not None \
                else raw.status is Status.Success
            if done or attempt >= attempts:
                return raw, attempt, done
            attempt += 1
            if step.delay > 0:
                await asyncio.sleep(step.delay)

    def _judge_until(self, raw: ActionResult, value: dict[str, Any],
                     extra: dict[str, Any] | None = None) -> bool:
        """Whether `until` holds for this attempt; sets the attempt's status from it."""
        step = self.step
        assert step.until is not None
        held = self.renderer.evaluate(step.until, step, self.host, self.registered, result=value,
                                      extra=extra)
        if held and not raw.unreachable:
            raw.status, raw.message = Status.Success, ""
        elif raw.status is Status.Success or raw.status is Status.Failed:
            raw.status = Status.Failed
            raw.message = raw.message or f"until {step.until!r} is still false"
        return held

    def _result(self, raw: ActionResult, attempt: int, done: bool) -> HostStepResult:
        attempts = self.step.retries + 1
        if raw.status is Status.Failed and not raw.message and raw.rc is not None:
            raw.message = f"exit status {raw.rc}"
        if not done and attempts > 1:
            raw.message = f"{raw.message} (after {attempts} attempts)"
        if self.runs_on is not self.host and not raw.status.is_ok:
            # the target itself may be fine: say that its delegate failed, not the target
            raw.message = delegate_message(self.step, raw.message or raw.status.word,
                                           unreachable=raw.unreachable)
            raw.unreachable = False
        return HostStepResult(self.host.id, raw.status, raw.rc, self.mask(raw.output),
                              self.started, time.time(), message=self.mask(raw.message),
                              attempts=attempt, state=raw.state, unreachable=raw.unreachable)

    def _noted(self, result: HostStepResult) -> HostStepResult:
        """`result` of a step that sent nothing, told to the transcript."""
        if self.log is not None:
            self.log.note(f"{result.word}: {result.message}")
        return result

    def _template_failure(self, exc: BaseException) -> HostStepResult:
        message = self.mask(template_message(self.step, self.host, exc))
        register(self.registered, self.step, self.host.id, Status.Failed.word)
        return HostStepResult(self.host.id, Status.Failed, None, "", self.started, time.time(),
                              message=message)
