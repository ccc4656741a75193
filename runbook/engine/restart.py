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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runbook.engine.executor import Executor


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
    order = [path_of(p.step.index) for p in executor.plan.steps]
    position = {path: i for i, path in enumerate(order)}
    first = {host: position[path] for host, path in starts.items() if path in position}
    for i, planned in enumerate(executor.plan.steps):
        planned.targets = tuple(h for h in planned.targets
                                if h.id in first and first[h.id] <= i)
    # only these hosts are locked and connected; the outcome still lists every host
    executor.plan.hosts = [h for h in executor.plan.hosts if h.id in first]
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
