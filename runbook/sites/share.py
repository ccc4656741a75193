"""A site's share of a run, seen from the controller: the task it is sent and how it is going.

`build_task` makes the task payload (see docs/sites.md, "What travels"): the run id, the site,
the runbook and lab (as shipped files), extra vars, the host ids, fail_fast, forks, and the
bundle of files (`bundle.py`). No secret is in it: the worker resolves `secret()` itself.
A restarted run's task also carries `restart`: where each of its hosts starts, with the
values they registered before, as the journal recorded them (masked: `codec.points_to_dict`).
`SiteShare` follows one share: sent, started (first message), alive (heartbeat), done.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook._dataclass import mutable
from runbook.sites.broker import TASK_NAME, queue_name
from runbook.sites.bundle import MAX_BUNDLE_BYTES, pack, plan_files, runbook_files
from runbook.sites.codec import points_to_dict

if TYPE_CHECKING:
    from celery import Celery

    from runbook.engine.restart import RestartPoints
    from runbook.plan.compiler import Plan

PAYLOAD_VERSION = 2
"""2: a task may carry `restart`. A worker refuses a task of a later version than its own."""


def new_run_id() -> str:
    return uuid.uuid4().hex


def site_hosts(plan: Plan) -> dict[str, list[str]]:
    """Per declared site (lab order), the ids of the plan's hosts it drives."""
    shares: dict[str, list[str]] = {}
    for host in plan.hosts:
        site = plan.lab.site_of.get(host.id)
        if site is not None:
            shares.setdefault(site, []).append(host.id)
    return shares


def build_task(plan: Plan, *, run_id: str, site: str, hosts: list[str],
               extra_vars: Mapping[str, Any], forks: int | None,
               limit: int = MAX_BUNDLE_BYTES,
               restart: RestartPoints | None = None) -> dict[str, Any]:
    """The payload of `site`'s task (JSON-serialisable); `ConfigError` over the size limit.
    `restart`: where each host starts, for a rerun or resume (docs/records.md)."""
    runbook_path = Path(plan.runbook.path).resolve()
    lab_path = Path(plan.lab.path).resolve() if plan.lab.path else None
    files = [runbook_path, *([lab_path] if lab_path else []), *runbook_files(plan),
             *plan_files(plan, hosts)]
    return {
        "version": PAYLOAD_VERSION, "run_id": run_id, "site": site, "hosts": list(hosts),
        "runbook": str(runbook_path), "lab": str(lab_path) if lab_path else None,
        "extra_vars": _jsonable(dict(extra_vars)), "fail_fast": plan.fail_fast, "forks": forks,
        "selection": dict(plan.selection), "output_limit": plan.output_limit,
        "bundle": pack(files, limit=limit),
        **({} if restart is None else {"restart": points_to_dict(restart)}),
    }


def _jsonable(value: Any) -> Any:
    """Extra vars as JSON can carry them (YAML dates and the like become strings)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def send_task(app: Celery, payload: dict[str, Any], *, expires: float) -> str:
    """Queue the task on the site's queue; a task no worker took within `expires` s is dropped."""
    result = app.send_task(TASK_NAME, args=[payload], queue=queue_name(payload["site"]),
                           expires=expires)
    return str(result.id)


@mutable
class SiteShare:
    """The controller's view of one site's share."""

    site: str
    hosts: list[str]
    sent_at: float = field(default_factory=time.monotonic)
    started: bool = False
    done: bool = False
    worker: str = ""
    last_check: float = 0.0
    last_message: float = 0.0
