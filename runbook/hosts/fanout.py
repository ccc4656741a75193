"""Fan-out helpers: the same work on every matching host of a lab, results by host id.

One host's exception is stored as that host's result; it never cancels the others.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from runbook.hosts.base import Host
from runbook.hosts.lab import Lab
from runbook.results import RunResult

T = TypeVar("T")


async def do_for_all_hosts(
    func: Callable[..., Awaitable[T]],
    *args: Any,
    pattern: re.Pattern[str] | None = None,
    concurrent: bool = True,
    lab: Lab | None = None,
    **kwargs: Any,
) -> dict[str, T | BaseException]:
    """Call `func(host, *args, **kwargs)` for each host whose id `pattern` is searched in.

    `func` is any async callable taking a host first, e.g. the unbound `RemoteHost.put`.
    `concurrent=False` runs host after host in lab order. `lab` defaults to `Lab.default()`.
    """
    hosts = (lab if lab is not None else Lab.default()).select(pattern)
    if concurrent:
        outcomes = await asyncio.gather(
            *(func(host, *args, **kwargs) for host in hosts), return_exceptions=True
        )
        return dict(zip((h.id for h in hosts), outcomes, strict=True))
    results: dict[str, T | BaseException] = {}
    for host in hosts:
        try:
            results[host.id] = await func(host, *args, **kwargs)
        except Exception as exc:
            results[host.id] = exc
    return results


async def run_on_all_hosts(
    cmds: str | Sequence[str],
    pattern: re.Pattern[str] | None = None,
    concurrent: bool = True,
    lab: Lab | None = None,
    timeout: float | None = None,
) -> dict[str, RunResult | BaseException]:
    """Run command(s) in the persistent shell of every matching host."""

    async def run(host: Host) -> RunResult:
        return await host.run(cmds, timeout=timeout)

    return await do_for_all_hosts(run, pattern=pattern, concurrent=concurrent, lab=lab)
