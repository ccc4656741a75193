"""One run out of many: merge the local executor's events and the sites' messages.

The `Merger` owns the merged `RunOutcome` and emits, on the run's one `EventBus`, what a
single-site run would: a `StepStarted` when the first part (local or a site) starts a step, every
`HostResult` as it comes, `Progress` over all the step's targets, and `StepFinished` once every
part has finished the step (steps are barriers within a site, not across sites), and every
part's `ItemResult` and `Rescued` (the journal needs them to restart the run). A part that
cannot report (no worker, worker lost, share refused) has its hosts' missing results filled in
(`fill`), so the record is always complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from runbook.engine.delegate import is_run_once_copy
from runbook.engine.events import (
    Event,
    EventBus,
    HostResult,
    ItemResult,
    Progress,
    Rescued,
    RunFinished,
    StepFinished,
    StepStarted,
)
from runbook.engine.results import BatchOutcome, HostStepResult, RunStatus, outcome_for
from runbook.results import Status
from runbook.sites.codec import Message, batch_from_dict, progress_event, result_from_dict

if TYPE_CHECKING:
    from runbook.engine.results import RunOutcome, StepOutcome
    from runbook.hosts.base import Host
    from runbook.model import Step
    from runbook.plan.compiler import Plan

LOCAL = ""
"""The name of the part this process drives (hosts without a site)."""


class Merger:
    """Merges parts (LOCAL and site names) into one outcome and one stream of events."""

    def __init__(self, plan: Plan, bus: EventBus, parts: Iterable[str],
                 on_failure: Callable[[str, str], None] | None = None) -> None:
        self.plan = plan
        self.bus = bus
        self.parts = set(parts)
        self.on_failure = on_failure
        self.outcome = outcome_for(plan)
        self.outcome.sites = {h.id: plan.lab.site_of[h.id] for h in plan.hosts
                              if h.id in plan.lab.site_of}
        self._started: set[int] = set()
        self._finished: dict[int, set[str]] = {s.index: set() for s in self.outcome.steps}
        self._by_index = {s.index: s for s in self.outcome.steps}
        self._targets = {p.step.index: [h.id for h in p.targets] for p in plan.steps}
        self._rescuable = {p.step.index for p in plan.steps if _rescuable(plan, p.step)}
        self._batches: dict[str, list[BatchOutcome]] = {}
        self._rescues: list[Rescued] = []

    def narrow(self, parts: Iterable[str]) -> None:
        """A restart narrowed the plan's targets (`engine.restart.narrow_plan`) and kept
        only `parts`: wait for those parts, on those targets."""
        self.parts = set(parts)
        self._targets = {p.step.index: [h.id for h in p.targets] for p in self.plan.steps}

    def part_of(self, host_id: str) -> str:
        return self.plan.lab.site_of.get(host_id, LOCAL)

    # -- events of the local executor -------------------------------------------------
    def local_event(self, event: Event) -> None:
        """Subscriber for the local executor's bus."""
        if isinstance(event, HostResult):
            self.host_result(event.step_index, event.result, event.registered)
        elif isinstance(event, StepStarted):
            self.step_started(event.index, event.limit)
        elif isinstance(event, ItemResult | Rescued):
            self.progress(event)
        elif isinstance(event, StepFinished):
            self.unannounced(event.outcome.index, event.outcome.results.values())
            self.step_finished(event.outcome.index, LOCAL, event.outcome.started,
                               event.outcome.ended)

    # -- messages of a site ----------------------------------------------------------
    def site_message(self, site: str, message: Message) -> None:
        """A message from `site`'s worker (codec.py); `done`/`failed` are the caller's."""
        kind = message.get("t")
        if kind == "host":
            self.host_result(int(message["step"]), result_from_dict(message["result"]),
                             message.get("registered"))
        elif kind == "step":
            self.step_started(int(message["step"]), int(message.get("limit") or 1))
        elif kind == "step_done":
            self.unannounced(int(message["step"]),
                             map(result_from_dict, message.get("results") or []))
            self.step_finished(int(message["step"]), site, message.get("started"),
                               message.get("ended"))
        elif (event := progress_event(message)) is not None:
            self.progress(event)

    def progress(self, event: ItemResult | Rescued) -> None:
        """How far a host got inside a loop or block: passed on for the journal; the rescues
        are kept for `mark_all_rescued`."""
        if isinstance(event, Rescued):
            self._rescues.append(event)
        self.bus.emit(event)

    def mark_all_rescued(self, steps: Sequence[StepOutcome]) -> None:
        """Mark every failure some part's rescue recovered in this run (after a restart merged
        the earlier run's results in, as `BlockTracker.mark_all_rescued` does for one part)."""
        for rescue in self._rescues:
            for outcome in steps[rescue.first:rescue.last + 1]:
                result = outcome.results.get(rescue.host_id)
                if result is not None and not result.status.is_ok:
                    result.rescued = True

    def unannounced(self, index: int, results: Iterable[HostStepResult]) -> None:
        """Results a part recorded without an event: run_once copies are kept silently (the
        console shows such a step once; the journal writes them when the step ends), any
        other is announced."""
        step = self._by_index.get(index)
        if step is None:
            return
        for result in results:
            if result.host_id in step.results or result.host_id not in self._targets[index]:
                continue
            if is_run_once_copy(result):
                step.results[result.host_id] = result
            else:
                self.host_result(index, result)

    def take_outcome(self, part: str, outcome: RunOutcome) -> None:
        """Results `part`'s own executor recorded without an event (not run after a halt)."""
        for step in outcome.steps:
            merged = self._by_index.get(step.index)
            known = merged.results if merged is not None else {}
            for result in step.results.values():
                if result.host_id not in known:
                    self.host_result(step.index, result)
        self.outcome.rescued.update(outcome.rescued)
        self._batches[part] = list(outcome.batches)
        self.part_finished(part)

    def site_done(self, site: str, message: Message) -> None:
        """The site's final record: take every result it holds, then close its part."""
        for step in message.get("steps", []):
            merged = self._by_index.get(int(step["step"]))
            if merged is None:
                continue
            results = [result_from_dict(data) for data in step.get("results", [])]
            for result in results:  # streamed before its block ended: whether rescue recovered it
                if result.host_id in merged.results:
                    merged.results[result.host_id].rescued = result.rescued
            self.unannounced(merged.index, results)
        self.outcome.rescued.update(message.get("rescued") or {})
        self._batches[site] = [batch_from_dict(b) for b in message.get("batches") or []]
        if message.get("error"):  # the site's engine stopped on an internal error: say so, fail
            self.outcome.error = self.outcome.error or f"site {site}: {message['error']}"
        self.part_finished(site)

    # -- the merged record -----------------------------------------------------------
    def step_started(self, index: int, limit: int) -> None:
        if index in self._started or index not in self._by_index:
            return
        self._started.add(index)
        step = self._by_index[index]
        step.started = step.started or time.time()
        self.bus.emit(StepStarted(index, step.name, step.action, len(self._targets[index]),
                                  limit, path=step.path))

    def host_result(self, index: int, result: HostStepResult,
                    registered: Mapping[str, Any] | None = None) -> None:
        step = self._by_index.get(index)
        if step is None or result.host_id not in self._targets[index]:
            return
        first = result.host_id not in step.results
        step.results[result.host_id] = result
        self.bus.emit(HostResult(index, step.name, result, registered))
        if first:
            self.bus.emit(Progress(index, step.name, len(step.results), len(self._targets[index])))
        if not result.status.is_ok and not result.ignored and self.on_failure is not None \
                and index not in self._rescuable:  # a rescue may recover it: no fail_fast yet
            self.on_failure(result.host_id, step.name)

    def step_finished(self, index: int, part: str, started: Any = None, ended: Any = None) -> None:
        step = self._by_index.get(index)
        if step is None or part in self._finished[index]:
            return
        self._finished[index].add(part)
        if isinstance(started, float | int):
            step.started = min(step.started or started, started)
        if isinstance(ended, float | int):
            step.ended = max(step.ended or ended, ended)
        if self._finished[index] >= self.parts:
            self._close_step(step)

    def _close_step(self, step: StepOutcome) -> None:
        self.step_started(step.index, 1)
        step.results = {h: step.results[h] for h in self._targets[step.index] if h in step.results}
        step.ended = step.ended or time.time()
        self.bus.emit(StepFinished(step))

    def part_finished(self, part: str) -> None:
        """Every step of `part` is over (its last results are in, or were filled)."""
        for index in sorted(self._finished):
            self.step_finished(index, part)

    def fill(self, part: str, status: Status, message: str, *, unreachable: bool = False,
             later: str | None = None) -> None:
        """Give `part`'s hosts their missing results: `status`/`message` where each host's record
        stops, `skipped: <later>` in the steps after; then close the part."""
        now = time.time()
        stopped: set[str] = set()
        for step in self.outcome.steps:
            for host_id in self._targets[step.index]:
                if self.part_of(host_id) != part:
                    continue
                result = step.results.get(host_id)
                if result is None:
                    result = HostStepResult(host_id, status, None, "", now, now, message=message,
                                            unreachable=unreachable) \
                        if host_id not in stopped else HostStepResult(
                            host_id, Status.Skipped, started=now, ended=now,
                            message=later if later is not None else f"skipped: {message}")
                    self.host_result(step.index, result)
                if not result.status.is_ok and not result.ignored:
                    stopped.add(host_id)
        self.part_finished(part)

    def finish(self, status: RunStatus | None = None) -> RunOutcome:
        """Close the record (once): every unfinished step, the status, RunFinished."""
        if self.outcome.ended is not None:
            return self.outcome
        for part in sorted(self.parts):
            self.fill(part, Status.Skipped, "not run", later="not run")
        self.outcome.batches = merge_batches(self._batches, self.plan.hosts)
        self.outcome.status = status or self.outcome.judged_status()
        self.outcome.ended = time.time()
        self.bus.emit(RunFinished(self.outcome))
        return self.outcome


def _rescuable(plan: Plan, step: Step) -> bool:
    """A failure of `step` that its innermost block's `rescue` may still recover (as
    engine/blockstate.py decides): the run's fail_fast waits for the block's end."""
    if not step.blocks:
        return False
    block_id, phase = step.blocks[-1]
    return phase == "block" and any(b.id == block_id and b.has_rescue
                                    for b in plan.runbook.blocks)


def merge_batches(parts: Mapping[str, list[BatchOutcome]],
                  hosts: Iterable[Host]) -> list[BatchOutcome]:
    """Every part's batches as one list, shaped like a single-site run's (docs/sites.md):
    per block (None: the runbook's batches), ordered by their first host in lab order and
    numbered across the parts."""
    place = {host.id: n for n, host in enumerate(hosts)}
    groups: dict[str | None, list[BatchOutcome]] = {}
    for batches in parts.values():
        for batch in batches:
            groups.setdefault(batch.block, []).append(batch)
    merged: list[BatchOutcome] = []
    for group in groups.values():
        group.sort(key=lambda b: (min((place.get(h, len(place)) for h in b.hosts),
                                      default=len(place)), b.number))
        merged += [replace(b, number=n, total=len(group)) for n, b in enumerate(group, start=1)]
    return merged
