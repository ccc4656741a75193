"""The runner: execute a compiled `Plan` step by step and report through events.

Steps are barriers. Within a step, a small pool of workers (at most `min(forks, concurrent N,
targets)`) takes hosts in lab order; `concurrent: false` is one worker, so hosts never
overlap. A host that fails, errors or is unreachable sits out the later steps; fail_fast
cancels what runs and starts nothing new. On cancellation (Ctrl-C) the executor records what
was running as interrupted, closes the hosts within a bounded time and re-raises;
`executor.outcome` is always the full, final record for the reports.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from runbook.engine.delegate import share_run_once
from runbook.engine.dryrun import dry_run
from runbook.engine.events import (
    EventBus,
    HostResult,
    Progress,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from runbook.engine.hoststep import HostStep, Registered, register, registered_value
from runbook.engine.results import (
    HostStepResult,
    RunOutcome,
    RunStatus,
    StepOutcome,
)
from runbook.results import Status

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.plan.compiler import Plan
    from runbook.plan.steps import PlannedStep

# Default hosts worked on at once: a lab of 500 hosts in one wave. An SSH host costs one TCP
# connection plus a few channels multiplexed on it; the real limit is open file descriptors.
DEFAULT_FORKS = 500
# File descriptors one host may need while it works (SSH: the socket; local: shell and
# oneshot pipes), and how many to keep free for the process itself (logs, reports, stdio).
FDS_PER_HOST = 4
FDS_RESERVED = 64

# Seconds allowed for closing every host at the end (and after Ctrl-C, inside the 5 s promise).
CLOSE_TIMEOUT = 3.0


def _identity(text: str) -> str:
    return text


def choose_forks(requested: int | None, fd_limit: int) -> int:
    """`requested` (or DEFAULT_FORKS), clamped so the open-file limit cannot be exhausted."""
    budget = max(1, (fd_limit - FDS_RESERVED) // FDS_PER_HOST)
    return max(1, min(requested or DEFAULT_FORKS, budget))


class Executor:
    """Runs one plan once. Build it, `await run()` (or `check()`), then read `outcome`."""

    def __init__(self, plan: Plan, *, forks: int, bus: EventBus | None = None,
                 mask: Callable[[str], str] | None = None,
                 close_timeout: float = CLOSE_TIMEOUT) -> None:
        self.plan = plan
        self.forks = max(1, forks)
        self.bus = bus or EventBus()
        self.mask = mask or _identity
        self.close_timeout = close_timeout
        self.registered: Registered = {h.id: {} for h in plan.hosts}
        self.dropped: dict[str, str] = {}
        self.halted: str | None = None
        self._inflight: dict[str, asyncio.Task[HostStepResult]] = {}
        self._running_since: dict[str, float] = {}
        self._current: StepOutcome | None = None
        self._release_after = release_points(plan)
        self._released: set[str] = set()
        runbook = plan.runbook
        self.outcome = RunOutcome(
            runbook=runbook.name, runbook_path=str(runbook.path),
            lab_path=str(plan.lab.path) if plan.lab.path else None,
            hosts=[h.id for h in plan.hosts],
            steps=[StepOutcome(p.step.index, p.step.name, p.step.action.kind, str(p.step.location))
                   for p in plan.steps],
            started=time.time())

    # -- run ------------------------------------------------------------------------------
    async def run(self) -> RunOutcome:
        """Execute every step; returns the outcome, re-raises cancellation after cleanup."""
        self.outcome.started = time.time()
        self.bus.emit(RunStarted(self.outcome.runbook, len(self.plan.steps),
                                 tuple(self.outcome.hosts), self.outcome.started,
                                 step_names=tuple(s.name for s in self.outcome.steps)))
        try:
            for planned, outcome in zip(self.plan.steps, self.outcome.steps, strict=True):
                if self.halted is not None:
                    self._skip_all(planned, outcome, f"not run: {self.halted}")
                    continue
                await self._run_step(planned, outcome)
            await self._close_hosts(kill=self.halted is not None)
        except asyncio.CancelledError:
            self._interrupt()
            await self._close_hosts()
            self._finish(RunStatus.INTERRUPTED)
            raise
        except BaseException as exc:
            self.outcome.error = _describe_error(exc)
            self._interrupt(reason=f"internal error: {exc}")
            await self._close_hosts()
            self._finish(RunStatus.FAILED)
            raise
        self._finish(RunStatus.FAILED if self.outcome.any_failed() else RunStatus.SUCCESS)
        return self.outcome

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
        """Close every lab host (hop hosts and power controllers hold connections too).

        `kill` (interruption, fail_fast, internal error): `close()`, which kills the shells'
        and oneshots' process groups. After a run that finished normally no command of ours
        is in flight, so the connection is just dropped (`reset_connection()`): idle shells
        exit on EOF, what a step deliberately left running (`nohup server &`) survives, as
        with plain ssh, and 500 hosts are spared a kill round-trip each. Hosts already
        released after their last step (`_release`) are not reset twice.
        """
        hosts = self.plan.lab.hosts
        if not kill:
            hosts = [h for h in hosts if h.id not in self._released]
        if not hosts:
            return
        try:
            async with asyncio.timeout(self.close_timeout):
                await asyncio.gather(*(h.close() if kill else h.reset_connection()
                                       for h in hosts), return_exceptions=True)
        except TimeoutError:
            pass  # a host that will not close in time must not hold the run hostage

    async def _release(self, host: Host) -> None:
        """Drop the connection of a host that no later step needs, while the others still work.

        Closing sockets costs the kernel about a millisecond each; done at the end, 200 hosts
        added a quarter of a second after the last result. As at the end of a run, nothing is
        killed: no command of ours runs on the host any more.
        """
        try:
            async with asyncio.timeout(self.close_timeout):
                self._released.add(host.id)
                await host.reset_connection()
        except Exception:  # closing must never fail the run; the end closes again
            pass

    def _interrupt(self, reason: str = "interrupted") -> None:
        """Record running hosts as interrupted and everything not started as not run."""
        now = time.time()
        current = self._current
        if current is not None:
            for host_id, since in self._running_since.items():
                if host_id not in current.results:
                    current.results[host_id] = HostStepResult(
                        host_id, Status.Error, None, "", since, now, message=reason)
            for result in current.results.values():
                if result.message == reason and result.status is Status.Error:
                    self.bus.emit(HostResult(current.index, current.name, result))
        self.halted = self.halted or reason
        for planned, outcome in zip(self.plan.steps, self.outcome.steps, strict=True):
            if outcome.ended is None:
                self._skip_all(planned, outcome, f"not run: {reason}", emit=False)

    def _skip_all(self, planned: PlannedStep, outcome: StepOutcome, message: str,
                  emit: bool = True) -> None:
        now = time.time()
        for host in planned.targets:
            if host.id not in outcome.results:
                outcome.results[host.id] = HostStepResult(host.id, Status.Skipped,
                                                          started=now, ended=now, message=message)
        outcome.results = {h.id: outcome.results[h.id] for h in planned.targets}
        outcome.started = outcome.started or now
        outcome.ended = now
        if emit:
            self.bus.emit(StepFinished(outcome))

    # -- one step -------------------------------------------------------------------------
    async def _run_step(self, planned: PlannedStep, outcome: StepOutcome) -> None:
        step = planned.step
        self._current = outcome
        outcome.started = time.time()
        active = self._sit_out_dropped(planned, outcome)
        limit = min(self.forks, planned.limit or self.forks, max(1, len(active)))
        self.bus.emit(StepStarted(step.index, step.name, step.action.kind, len(active), limit,
                                  skipped=len(planned.targets) - len(active)))
        for result in outcome.results.values():
            self.bus.emit(HostResult(step.index, step.name, result,
                                     registered_value(self.registered, step, result.host_id, self.mask)))
        if active:
            ran = active[:1] if step.run_once else active
            await self._work(planned, outcome, ran, min(limit, len(ran)))
            if step.run_once and self.halted is None and ran[0].id in outcome.results:
                for shared in share_run_once(step, outcome.results[ran[0].id], active[1:],
                                             self.registered):
                    self._record(planned, outcome, shared, emit=False)
        if self.halted is not None:
            self._skip_all(planned, outcome, f"not run: {self.halted}")
        else:
            self._close_step(planned, outcome)
        self._current = None

    def _sit_out_dropped(self, planned: PlannedStep, outcome: StepOutcome) -> list[Host]:
        """Record hosts dropped by an earlier step as skipped; return the others."""
        active: list[Host] = []
        now = outcome.started or time.time()
        for host in planned.targets:
            reason = self.dropped.get(host.id)
            if reason is None:
                active.append(host)
                continue
            outcome.results[host.id] = HostStepResult(
                host.id, Status.Skipped, started=now, ended=now, message=f"skipped: {reason}")
            register(self.registered, planned.step, host.id, Status.Skipped.word)
        return active

    async def _work(self, planned: PlannedStep, outcome: StepOutcome, active: list[Host],
                    limit: int) -> None:
        """`limit` workers take the active hosts in lab order until none is left (or a halt)."""
        step = planned.step
        done = [0]
        queue = iter(active)

        async def worker() -> None:
            for host in queue:
                if self.halted is not None:
                    return
                result = await self._host_task(planned, host)
                self._record(planned, outcome, result)
                if self._release_after.get(host.id) is planned and self.halted is None:
                    await self._release(host)
                done[0] += 1
                self.bus.emit(Progress(step.index, step.name, done[0], len(active)))

        if limit == 1:
            await worker()
            return
        async with asyncio.TaskGroup() as group:
            for _ in range(limit):
                group.create_task(worker())

    def _close_step(self, planned: PlannedStep, outcome: StepOutcome) -> None:
        outcome.results = {h.id: outcome.results[h.id] for h in planned.targets
                           if h.id in outcome.results}
        outcome.ended = time.time()
        self.bus.emit(StepFinished(outcome))

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
            else:
                self.dropped[result.host_id] = f"failed in step {step.name!r}" if (
                    not result.unreachable) else "unreachable"
                if self.plan.fail_fast and self.halted is None:
                    self.halted = f"fail_fast after {result.host_id!r} failed step {step.name!r}"
                    for host_id, task in list(self._inflight.items()):
                        if host_id != result.host_id:
                            task.cancel()
        if emit:
            self.bus.emit(HostResult(step.index, step.name, result,
                                     registered_value(self.registered, step, result.host_id,
                                                      self.mask)))

    async def _run_host(self, planned: PlannedStep, host: Host) -> HostStepResult:
        return await HostStep(planned, host, self.plan.renderer, self.registered, self.mask,
                              lab=self.plan.lab).run()

    # -- dry run --------------------------------------------------------------------------
    def check(self) -> RunOutcome:
        """Emit, per step and host, the rendered actions; connects nothing. Template errors fail."""
        self.outcome.check = True
        self.outcome.started = time.time()
        self.bus.emit(RunStarted(self.outcome.runbook, len(self.plan.steps),
                                 tuple(self.outcome.hosts), self.outcome.started, check=True,
                                 step_names=tuple(s.name for s in self.outcome.steps)))
        dry_run(self.plan, self.outcome, forks=self.forks, bus=self.bus, mask=self.mask)
        self._finish(RunStatus.FAILED if self.outcome.any_failed() else RunStatus.SUCCESS)
        return self.outcome


def release_points(plan: Plan) -> dict[str, PlannedStep]:
    """Per host id, the last planned step that targets it: after it the host may be closed.

    Empty when a host is another's jump host (closing it would cut the tunnelled connections)
    or has power control (a controller host is found by id at run time): those labs close
    everything at the end, as before. A `delegate_to` host is never released early: other
    targets' actions may still run on it, in the same step or a later one.
    """
    hosts = plan.lab.hosts
    if any(getattr(h, "hop", None) is not None or h.power_control is not None for h in hosts):
        return {}
    last: dict[str, PlannedStep] = {}
    for planned in plan.steps:
        for host in planned.targets:
            last[host.id] = planned
    delegates = {p.step.delegate_to for p in plan.steps if p.step.delegate_to is not None}
    return {host_id: planned for host_id, planned in last.items() if host_id not in delegates}


def _describe_error(exc: BaseException) -> str:
    """`Type: message` of an unexpected error, looking inside TaskGroup exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"
