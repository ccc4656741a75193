"""Early connection release: drop a host's connection after the last step that targets it,
while the other hosts still work (issue 16; at the end of a run 200 hosts used to add a
quarter of a second of socket closing after the last result).

Safe with blocks and batches because the plan's flat step list holds every step in the order
it can run: a host's `rescue` and `always` steps come after its `block` steps, a batched
block runs each host in exactly one batch, and a later step that targets the host moves its
release point there. The executor releases only while the run is not halted, so the
`always` steps run after fail_fast or Ctrl-C never meet a released host. Never released
early: jump hosts and power-controlled labs (the whole lab then closes at the end) and
`delegate_to` hosts (other targets' actions may still run on them).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.plan.compiler import Plan
    from runbook.plan.steps import PlannedStep


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


class EarlyRelease:
    """The release points of one run and the hosts already released (not reset again)."""

    def __init__(self, plan: Plan, close_timeout: float) -> None:
        self.points = release_points(plan)
        self.released: set[str] = set()
        self.close_timeout = close_timeout

    async def after(self, planned: PlannedStep, host: Host) -> None:
        """Release `host` if `planned` is the last step that targets it."""
        if self.points.get(host.id) is not planned:
            return
        try:
            async with asyncio.timeout(self.close_timeout):
                self.released.add(host.id)
                await host.release_connection()
        except Exception:  # closing must never fail the run; the end closes again
            pass
