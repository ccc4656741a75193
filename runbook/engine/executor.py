"""The runner: execute a compiled `Plan` step by step and report through events.

Steps are barriers. Within a step, a small pool of workers (at most `min(forks, concurrent N,
targets)`) takes hosts in lab order; `concurrent: false` is one worker, so hosts never
overlap. A host that fails, errors or is unreachable sits out the later steps (inside a block
it goes on with the block's rescue and always steps: engine/blockstate.py); fail_fast
cancels what runs and starts nothing new but the pending `always` steps. Batches
(engine/batchrun.py) run the steps per group of hosts. On cancellation (Ctrl-C) the
executor records what was running as interrupted, runs the pending `always` steps (a second
cancellation abandons them), closes the hosts within a bounded time and re-raises;
`executor.outcome` is always the full, final record for the reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from runbook.engine.batchrun import BatchRunner
from runbook.engine.blockstate import BlockTracker
from runbook.engine.bookkeeping import (
    close_step,
    describe_error,
    interrupt_running,
    mark_not_run,
    skip_missing,
)
from runbook.engine.delegate import share_run_once
from runbook.engine.dryrun import dry_run
from runbook.engine.events import (
    EventBus,
    HostResult,
    Progress,
    Rescued,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from runbook.engine.hoststep import HostStep, Registered, register, registered_value
from runbook.engine.loop import LoopMemory
from runbook.engine.release import EarlyRelease
from runbook.engine.results import (
    HostStepResult,
    RunOutcome,
    RunStatus,
    StepOutcome,
    outcome_for,
)
from runbook.results import Status

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.hosts.hostlog import HostLog
    from runbook.model import Step
    from runbook.plan.compiler import Plan
    from runbook.plan.steps import PlannedStep

# Seconds allowed for closing every host at the end (and after Ctrl-C, inside the 5 s promise).
CLOSE_TIMEOUT = 3.0
# Seconds an `always` step may take on a host while the run is halted or interrupted, when the
# step sets no `timeout` of its own.
ALWAYS_TIMEOUT = 60.0


def _no_log(host_id: str) -> HostLog | None:
    return None


class Executor:
    """Runs one plan once. Build it, `await run()` (or `check()`), then read `outcome`."""

    def __init__(self, plan: Plan, *, forks: int, bus: EventBus | None = None,
                 mask: Callable[[str], str] | None = None,
                 close_timeout: float = CLOSE_TIMEOUT) -> None:
        self.plan = plan
        self.forks = max(1, forks)
        self.bus = bus or EventBus()
        self.mask = mask or str  # unmasked
        self.close_timeout = close_timeout
        self.registered: Registered = {h.id: {} for h in plan.hosts}
        self.tracker = BlockTracker(plan.runbook.blocks)
        self.dropped: dict[str, str] = self.tracker.dropped
        self.loops = LoopMemory(self.bus.emit)
        #: the hosts batches are cut from (a restart's whole earlier run); None: the plan's
        self.batch_hosts: list[str] | None = None
        #: Each host's transcript (`RunRecorder` sets it); None: not recorded.
        self.host_logs: Callable[[str], HostLog | None] = _no_log
        self.halted: str | None = None
        self.stop_batches: str | None = None  #: no further batch (sites' max_failed)
        self._cleanup = False
        self._position = -1
        self._batch: frozenset[str] | None = None
        self._inflight: dict[str, asyncio.Task[HostStepResult]] = {}
        self._running_since: dict[str, float] = {}
        self._current: StepOutcome | None = None
        self.outcome = outcome_for(plan)
        self.release = EarlyRelease(plan, close_timeout)

    # -- run ------------------------------------------------------------------------------
    async def run(self) -> RunOutcome:
        """Execute every step; returns the outcome, re-raises cancellation after cleanup."""
        self.outcome.started = time.time()
        self.bus.emit(RunStarted(self.outcome.runbook, len(self.plan.steps),
                                 tuple(self.outcome.hosts), self.outcome.started,
                                 step_names=tuple(s.name for s in self.outcome.steps)))
        try:
            await self._batches().run(self.plan.runbook.batch, self.plan.runbook.max_failed,
                                      (0, len(self.plan.steps) - 1),
                                      [h.id for h in self.plan.hosts], full=self.batch_hosts)
            if self.halted is not None:
                await self._run_cleanup()
            self._fill_missing()
            await self._close_hosts(kill=self.halted is not None)
        except asyncio.CancelledError:
            self._interrupt_running()
            with contextlib.suppress(asyncio.CancelledError):  # a second cancel abandons them
                await self._run_cleanup()
            self._interrupt()
            await self._close_hosts()
            self._finish(RunStatus.INTERRUPTED)
            raise
        except BaseException as exc:
            self.outcome.error = describe_error(exc)
            self._interrupt(reason=f"internal error: {exc}")
            await self._close_hosts()
            self._finish(RunStatus.FAILED)
            raise
        self._finish(self.outcome.judged_status())
        return self.outcome

    def halt(self, reason: str, *, cancel: bool = False, keep: str | None = None) -> None:
        """Start no new step or host from now on (`reason` says why: fail_fast, a lost lab
        lock, a request from a multi-site run); then the pending `always` steps of the blocks
        hosts entered run, and the run ends failed. Hosts in the middle of a step finish it,
        unless `cancel` (fail_fast): then their work is cancelled (but `keep`'s own task) and
        reads `cancelled: <reason>`; never the `always` cleanup already under way."""
        self.halted = self.halted or reason
        if cancel and not self._cleanup:
            for host_id, task in list(self._inflight.items()):
                if host_id != keep:
                    task.cancel()

    def cleanup_budget(self) -> float:
        """Seconds the `always` steps may take after an interruption (each step's timeout,
        default ALWAYS_TIMEOUT): how long a caller should wait before giving up on them."""
        return sum(p.step.timeout or ALWAYS_TIMEOUT for p in self.plan.steps
                   if any(phase == "always" for _, phase in p.step.blocks))

    def _batches(self) -> BatchRunner:
        return BatchRunner(self.plan.runbook.blocks,
                           self.batch_hosts or [h.id for h in self.plan.hosts],
                           self._run_index, self._failed_hosts,
                           lambda: self.halted is not None, self.bus, self.outcome,
                           lambda: self.stop_batches)

    async def _run_index(self, index: int, hosts: frozenset[str]) -> None:
        """Step `index` on the hosts of the current batch, then close the blocks ending there."""
        self._position, self._batch = index, hosts
        await self._run_step(self.plan.steps[index], self.outcome.steps[index])
        self._leave_blocks(index)

    def _leave_blocks(self, index: int) -> None:
        """Close the blocks ending at step `index`: drop unrecovered hosts, mark the failures
        that rescue recovered (shown, but they no longer fail the run)."""
        for host_id in self.tracker.leave(index):
            if self.plan.fail_fast and self.halted is None:
                self.halt(f"fail_fast after {host_id!r} failed in a block")
        for block, host_id in self.tracker.mark_rescued(self.outcome.steps):
            self.bus.emit(Rescued(host_id, block.name, block.first, block.last))
        self.outcome.rescued = self.tracker.rescued_hosts()

    def _failed_hosts(self, first: int, last: int, hosts: Sequence[str]) -> set[str]:
        """Hosts of `hosts` that failed in steps first..last and were not rescued."""
        return self.tracker.failed_in(self.outcome.steps[first:last + 1], hosts)

    async def _run_cleanup(self) -> None:
        """After a halt or the first interruption: the `always` steps of the blocks hosts
        entered, each bounded by its timeout (default ALWAYS_TIMEOUT); a second signal
        abandons them (the CLI calls `abandon()`)."""
        self._cleanup = True
        for index in range(self._position + 1, len(self.plan.steps)):
            planned = self.plan.steps[index]
            if any(phase == "always" for _, phase in planned.step.blocks):
                step = dataclasses.replace(planned.step,
                                           timeout=planned.step.timeout or ALWAYS_TIMEOUT)
                self._position = index
                await self._run_step(dataclasses.replace(planned, step=step),
                                     self.outcome.steps[index])
            self._leave_blocks(index)

    def _fill_missing(self) -> None:
        """Targets with no result in a step (a batch that never started, a halt) as not run."""
        reasons = [b.not_started for b in self.outcome.batches if b.not_started]
        reason = self.halted or (f"batch not started: {reasons[0]}" if reasons else "not run")
        mark_not_run(self.plan.steps, self.outcome.steps, f"not run: {reason}")

    def _finish(self, status: RunStatus) -> None:
        if self.outcome.ended is not None:
            return  # already finished (abandon() ran first)
        self.outcome.status = status
        self.outcome.ended = time.time()
        self.bus.emit(RunFinished(self.outcome))

    def abandon(self) -> RunOutcome:
        """Finish the record now as interrupted, without waiting for cleanup (second Ctrl-C).

        Running hosts become `interrupted`, the rest `not run`; RunFinished is emitted so the
        recap can still be printed. Nothing is awaited: the caller is about to exit.
        """
        self._interrupt()
        self._finish(RunStatus.INTERRUPTED)
        return self.outcome

    async def _close_hosts(self, *, kill: bool = True) -> None:
        """Close the lab's hosts within `close_timeout`. `kill` after an interruption,
        fail_fast or an internal error; after a normal end no command of ours is in flight,
        so the connections are just dropped (500 hosts are spared a kill round-trip each),
        and hosts already released after their last step (engine/release.py) are not reset twice."""
        await self.plan.lab.close(kill=kill, timeout=self.close_timeout,
                                  released=self.release.released)

    def _interrupt(self, reason: str = "interrupted") -> None:
        """Record running hosts as interrupted and everything not started as not run."""
        self._interrupt_running(reason)
        mark_not_run(self.plan.steps, self.outcome.steps, f"not run: {self.halted}")

    def _interrupt_running(self, reason: str = "interrupted") -> None:
        """Record the hosts running the current step as interrupted; halt the run."""
        current = self._current
        if current is not None:
            for result in interrupt_running(current, self._running_since, reason):
                self.bus.emit(HostResult(current.index, current.name, result))
        self.halted = self.halted or reason
        self._current = None

    # -- one step -------------------------------------------------------------------------
    async def _run_step(self, planned: PlannedStep, outcome: StepOutcome) -> None:
        step = planned.step
        self._current = outcome
        outcome.started = outcome.started or time.time()
        active, sitting = self._sit_out_dropped(planned, outcome)
        if not active and self._cleanup:
            close_step(planned, outcome)
            self._current = None
            return
        limit = min(self.forks, planned.limit or self.forks, max(1, len(active)))
        self.bus.emit(StepStarted(step.index, step.name, step.action.kind, len(active), limit,
                                  skipped=len(sitting), path=step.path))
        for result in sitting:
            self._emit_result(step, result)
        if active:
            ran = active[:1] if step.run_once else active
            await self._work(planned, outcome, ran, min(limit, len(ran)))
            if step.run_once and self.halted is None and ran[0].id in outcome.results:
                for shared in share_run_once(step, outcome.results[ran[0].id], active[1:],
                                             self.registered):
                    self._record(planned, outcome, shared, emit=False)
        if self.halted is not None and not self._cleanup:
            skip_missing(planned, outcome, f"not run: {self.halted}")
        else:
            close_step(planned, outcome)
        self.bus.emit(StepFinished(outcome))
        self._current = None

    def _sit_out_dropped(self, planned: PlannedStep,
                         outcome: StepOutcome) -> tuple[list[Host], list[HostStepResult]]:
        """Record the batch's hosts that do not run the step (dropped by an earlier step, or
        out of it by the blocks' rules) as skipped; return the others and those results."""
        active: list[Host] = []
        sitting: list[HostStepResult] = []
        now = time.time()
        for host in planned.targets:
            if self._batch is not None and host.id not in self._batch:
                continue
            reason = self.tracker.skip_reason(planned.step, host.id, cleanup=self._cleanup)
            if reason is None:
                active.append(host)
                continue
            if self._cleanup and reason == "not run":
                reason = f"not run: {self.halted}"
            result = HostStepResult(host.id, Status.Skipped, started=now, ended=now,
                                    message=reason)
            outcome.results[host.id] = result
            sitting.append(result)
            register(self.registered, planned.step, host.id, Status.Skipped.word)
        return active, sitting

    async def _work(self, planned: PlannedStep, outcome: StepOutcome, active: list[Host],
                    limit: int) -> None:
        """`limit` workers take the active hosts in lab order until none is left (or a halt)."""
        step = planned.step
        done = [0]
        queue = iter(active)

        async def worker() -> None:
            for host in queue:
                if self.halted is not None and not self._cleanup:
                    return
                result = await self._host_task(planned, host)
                self._record(planned, outcome, result)
                if self.halted is None:
                    await self.release.after(planned, host)
                done[0] += 1
                self.bus.emit(Progress(step.index, step.name, done[0], len(active)))

        if limit == 1:
            await worker()
            return
        async with asyncio.TaskGroup() as group:
            for _ in range(limit):
                group.create_task(worker())

    async def _host_task(self, planned: PlannedStep, host: Host) -> HostStepResult:
        """Run one host's step in its own task so fail_fast can cancel just that work."""
        self._running_since[host.id] = time.time()
        task = asyncio.create_task(self._run_host(planned, host))
        self._inflight[host.id] = task
        try:
            return await task
        except asyncio.CancelledError:
            me = asyncio.current_task()
            now = time.time()
            if me is not None and me.cancelling():
                # the run itself is being cancelled (Ctrl-C): record this host as interrupted
                if self._current is not None:
                    self._current.results.setdefault(host.id, HostStepResult(
                        host.id, Status.Error, None, "",
                        self._running_since.get(host.id, now), now, message="interrupted"))
                raise
            return HostStepResult(host.id, Status.Error, None, "",
                                  self._running_since.get(host.id, now), now,
                                  message=f"cancelled: {self.halted or 'fail_fast'}")
        finally:
            self._inflight.pop(host.id, None)
            self._running_since.pop(host.id, None)

    def _record(self, planned: PlannedStep, outcome: StepOutcome, result: HostStepResult, *,
                emit: bool = True) -> None:
        step = planned.step
        outcome.results[result.host_id] = result
        if not result.status.is_ok:
            if step.ignore_errors and not result.unreachable:
                result.ignored = True
            elif self._failed(step, result) and self.plan.fail_fast and self.halted is None:
                self.halt(f"fail_fast after {result.host_id!r} failed step {step.name!r}",
                          cancel=True, keep=result.host_id)
        if emit:
            self._emit_result(step, result)

    def _emit_result(self, step: Step, result: HostStepResult) -> None:
        """HostResult for `result`, with a masked copy of what the step registered."""
        self.bus.emit(HostResult(step.index, step.name, result,
                                 registered_value(self.registered, step, result.host_id,
                                                  self.mask)))

    def _failed(self, step: Step, result: HostStepResult) -> bool:
        """Record a failure with the blocks; True when nothing can rescue it (fail_fast)."""
        fatal = self.tracker.fail(step, result.host_id, result.message or result.word)
        if fatal and not step.blocks:
            self.dropped[result.host_id] = (f"failed in step {step.name!r}"
                                            if not result.unreachable else "unreachable")
        failure = self.tracker.failure_of(result.host_id, step)
        if failure is not None:
            values = self.registered.setdefault(result.host_id, {})
            values["failed_step"], values["failed_message"] = failure
        return fatal

    async def _run_host(self, planned: PlannedStep, host: Host) -> HostStepResult:
        return await HostStep(planned, host, self.plan.renderer, self.registered, self.mask,
                              log=self.host_logs(host.id), lab=self.plan.lab,
                              loops=self.loops).run()

    # -- dry run --------------------------------------------------------------------------
    def check(self) -> RunOutcome:
        """Emit, per step and host, the rendered actions; connects nothing. Template errors fail."""
        self.outcome.check = True
        self.outcome.started = time.time()
        self.bus.emit(RunStarted(self.outcome.runbook, len(self.plan.steps),
                                 tuple(self.outcome.hosts), self.outcome.started, check=True,
                                 step_names=tuple(s.name for s in self.outcome.steps)))
        dry_run(self.plan, self.outcome, forks=self.forks, bus=self.bus, mask=self.mask)
        self._finish(self.outcome.judged_status())
        return self.outcome

