"""Start a run part-way: each host from a given step, with what it registered before.

`--rerun-failed` and `runbook resume` decide where each host starts (`runbook.records.progress`);
this module makes an `Executor` do just that, without the executor knowing: a host drops out
of the targets of every step before its start (and of every step, when it has none; such a
host is not locked or connected either), its registered values are put back, and so is its
place in the blocks around its start (`BlockTracker.restore`: entered, and what failed there
before, so rescue and always run as they would have); a host whose earlier failure had put it
out of the run sits the rest out. A loop step skips the items the host did ok before
(`LoopMemory`), and batches are cut from the earlier run's hosts, so each host runs in the
batch it had, in the original order.

`RestartPoints` holds all of that for a set of hosts as plain data: a multi-site run splits
it per part (`part`) and ships each site its share (runbook/sites/codec.py), where the
worker applies it to its own executor.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from runbook._dataclass import frozen

if TYPE_CHECKING:
    from runbook.engine.executor import Executor
    from runbook.plan.compiler import Plan

#: host -> step path -> item position -> a looped step's item entry
ItemsDone = Mapping[str, Mapping[str, Mapping[int, Mapping[str, Any]]]]


@frozen
class RestartPoints:
    """Where each host starts and what it brings along (see `start_part_way`'s arguments);
    step paths as `runbook.records.runfolder.step_path` gives them."""

    starts: Mapping[str, str]
    registered: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    failures: Mapping[str, Sequence[tuple[str, str]]] = field(default_factory=dict)
    items: ItemsDone = field(default_factory=dict)
    dropped: Mapping[str, str] = field(default_factory=dict)
    batch_hosts: Sequence[str] | None = None

    def part(self, hosts: Collection[str]) -> RestartPoints:
        """The same points kept to `hosts` (one part of a multi-site run: its batches are
        cut from its own hosts, docs/sites.md)."""
        def keep(values: Mapping[str, Any]) -> dict[str, Any]:
            return {h: v for h, v in values.items() if h in hosts}

        return RestartPoints(
            keep(self.starts), keep(self.registered), keep(self.failures), keep(self.items),
            keep(self.dropped),
            None if self.batch_hosts is None else [h for h in self.batch_hosts if h in hosts])

    def apply(self, executor: Executor, path_of: Callable[[int], str]) -> None:
        """`start_part_way` with these points."""
        start_part_way(executor, self.starts, path_of, registered=self.registered,
                       dropped=self.dropped, failures=self.failures, items=self.items,
                       batch_hosts=self.batch_hosts)


def narrow_plan(plan: Plan, starts: Mapping[str, str],
                path_of: Callable[[int], str]) -> dict[str, int]:
    """Drop each host from `plan`'s steps before its start (and from every step, and from
    `plan.hosts`, when it has none); host -> position of its first step."""
    position = {path_of(p.step.index): i for i, p in enumerate(plan.steps)}
    first = {host: position[path] for host, path in starts.items() if path in position}
    for i, planned in enumerate(plan.steps):
        planned.targets = tuple(h for h in planned.targets
                                if h.id in first and first[h.id] <= i)
    # only these hosts are locked and connected; the outcome still lists every host
    plan.hosts = [h for h in plan.hosts if h.id in first]
    return first


def start_part_way(executor: Executor, starts: Mapping[str, str],
                   path_of: Callable[[int], str], *,
                   registered: Mapping[str, Mapping[str, Any]] | None = None,
                   dropped: Mapping[str, str] | None = None,
                   failures: Mapping[str, Sequence[tuple[str, str]]] | None = None,
                   items: Mapping[str, Mapping[str, Mapping[int, Mapping[str, Any]]]]
                   | None = None,
                   batch_hosts: Sequence[str] | None = None) -> None:
    """Narrow `executor`'s plan to `starts` (host id -> path of the step it starts at).

    `path_of` gives a step index's path; `registered` holds each host's restored values;
    `dropped` the hosts that only sit the steps out, with the reason shown; `failures` each
    host's failures before its start (path, message); `items` the loop items each host did
    (host -> path -> position -> entry); `batch_hosts` the hosts batches are cut from.
    """
    position = {path_of(p.step.index): i for i, p in enumerate(executor.plan.steps)}
    first = narrow_plan(executor.plan, starts, path_of)
    for host, values in (registered or {}).items():
        executor.registered.setdefault(host, {}).update(values)
    executor.dropped.update(dropped or {})
    for host, index in first.items():
        _restore_blocks(executor, host, index, [
            (position[path], message) for path, message in (failures or {}).get(host, ())
            if path in position])
    for host, by_path in (items or {}).items():
        for path, done in by_path.items():
            if path in position:
                executor.loops.done[(position[path], host)] = dict(done)
    if batch_hosts is not None:
        executor.batch_hosts = list(batch_hosts)


def _restore_blocks(executor: Executor, host: str, start: int,
                    failures: Sequence[tuple[int, str]]) -> None:
    """`host`'s place in the blocks around step `start`; out of the run when an earlier
    failure had put it out (then it sits the rest out, as it would have)."""
    steps = [p.step for p in executor.plan.steps]
    out = executor.tracker.restore(host, steps[start], [(steps[i], m) for i, m in failures])
    if out is not None:
        executor.dropped.setdefault(host, out)
        return
    failure = executor.tracker.failure_of(host, steps[start])
    if failure is not None:
        values = executor.registered.setdefault(host, {})
        values["failed_step"], values["failed_message"] = failure
