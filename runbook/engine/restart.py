"""Start a run part-way: each host from a given step, with what it registered before.

`--rerun-failed` and `runbook resume` decide where each host starts (`runbook.records.progress`);
this module makes an `Executor` do just that, without the executor knowing: a host drops out
of the targets of every step before its start (and of every step, when it has none; such a
host is not locked or connected either), its registered values are put back, and a host
that already failed for real sits the rest out.
Steps are named by path (`step_path`); a plan of nested steps would narrow its inner steps'
targets the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runbook.engine.executor import Executor


def start_part_way(executor: Executor, starts: Mapping[str, str],
                   path_of: Callable[[int], str], *,
                   registered: Mapping[str, Mapping[str, Any]] | None = None,
                   dropped: Mapping[str, str] | None = None) -> None:
    """Narrow `executor`'s plan to `starts` (host id -> path of the step it starts at).

    `path_of` gives a step index's path; `registered` holds each host's restored values;
    `dropped` the hosts that only sit the steps out, with the reason shown.
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
