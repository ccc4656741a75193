"""The report of a run that repairs (`--rerun-failed`) or continues (`resume`) another: the
new run's results, with the earlier run's filling in every host-step the new run did not
touch, so it shows every host's final state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runbook.records.runfolder import step_path
from runbook.results import Status

if TYPE_CHECKING:
    from runbook.engine.results import HostStepResult, RunOutcome
    from runbook.records.progress import RunProgress

_STATUS = {"success": Status.Success, "failed": Status.Failed, "error": Status.Error,
           "skipped": Status.Skipped, "unreachable": Status.Error}


def result_from_dict(host_id: str, data: dict[str, Any]) -> HostStepResult:
    """A report's hostResult back as a `HostStepResult` (the inverse of `to_dict`)."""
    from runbook.engine.results import HostStepResult

    word = str(data.get("status", "error"))
    return HostStepResult(
        host_id, _STATUS.get(word, Status.Error), data.get("rc"), str(data.get("output", "")),
        float(data.get("started") or 0.0), float(data.get("ended") or 0.0),
        message=str(data.get("message", "")), ignored=bool(data.get("ignored", False)),
        attempts=int(data.get("attempts", 1)), state=data.get("state"),
        unreachable=word == "unreachable", command=str(data.get("command", "")),
        items=data.get("items"), rescued=bool(data.get("rescued", False)))


def merge_earlier(outcome: RunOutcome, earlier: RunProgress,
                  settle: Callable[[RunOutcome], None] | None = None) -> None:
    """Fill `outcome` (in place) with `earlier`'s results where it has none; hosts in the lab
    order of the earlier run, then any new ones; `settle` then sees the merged results (to
    mark the earlier failures this run's rescues recovered) before the status is judged."""
    from runbook.engine.results import RunStatus

    hosts = list(dict.fromkeys([*earlier.hosts, *outcome.hosts]))
    order = {h: i for i, h in enumerate(hosts)}
    for step in outcome.steps:
        merged = dict(step.results)
        for host, data in earlier.results.get(step_path(step.index), {}).items():
            merged.setdefault(host, result_from_dict(host, data))
        step.results = dict(sorted(merged.items(), key=lambda item: order.get(item[0], 0)))
    outcome.hosts = hosts
    if settle is not None:
        settle(outcome)
    if outcome.status is not RunStatus.INTERRUPTED and outcome.ended is not None:
        outcome.status = outcome.judged_status()
