"""`runbook sites`: the lab's sites, their queues, and the workers consuming them right now.

Workers are found with Celery's remote control (`inspect().active_queues()`), which waits at
most `timeout` seconds for replies: a worker that does not answer in time is not listed.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from runbook._dataclass import mutable
from runbook.sites.broker import celery_app, queue_name

if TYPE_CHECKING:
    from runbook.hosts.lab import Lab


@mutable
class SiteInfo:
    """One site: its queue, the lab hosts it drives, and the workers consuming its queue."""

    name: str
    queue: str
    hosts: list[str]
    workers: list[str] = field(default_factory=list)


def list_sites(lab: Lab, url: str, *, timeout: float = 2.0) -> list[SiteInfo]:
    """Every declared site (lab order) with the workers that answered within `timeout`."""
    sites = [SiteInfo(name, queue_name(name),
                      [h for h, s in lab.site_of.items() if s == name]) for name in lab.sites]
    by_queue = {s.queue: s for s in sites}
    app = celery_app(url)
    try:
        replies = app.control.inspect(timeout=timeout).active_queues() or {}
    finally:
        app.close()
    for worker, queues in sorted(replies.items()):
        for queue in queues or []:
            site = by_queue.get(str(queue.get("name")))
            if site is not None:
                site.workers.append(worker)
    return sites
