"""`delegate_to` and `run_once`: which host an action runs on, and sharing one host's result.

`delegate_to: ID` keeps the target (its variables, `host`, where the result is recorded) and
only moves where the action runs: `runs_on` finds the delegate in the lab. `run_once: true`
runs the step on the first active target; `share_run_once` then records and registers that
result for every other target, marked as a copy, so it is shown once.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from runbook.engine.results import HostStepResult
from runbook.errors import ConfigError

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.hosts.lab import Lab
    from runbook.model import Step

#: The `message` of a run_once copy starts with this (the console shows the step once).
RUN_ONCE_NOTE = "run_once: the result of"


def runs_on(step: Step, target: Host, lab: Lab | None) -> Host:
    """The host that executes `step` for `target`: the delegate, or the target itself."""
    if step.delegate_to is None:
        return target
    if lab is None or step.delegate_to not in lab:
        raise ConfigError(f"delegate_to: no host {step.delegate_to!r} in the lab")
    return lab[step.delegate_to]


def delegate_message(step: Step, message: str, *, unreachable: bool) -> str:
    """A failure on the delegate, said as such (the target itself may be fine)."""
    if unreachable:
        return f"delegate {step.delegate_to!r} is unreachable: {message}"
    return f"on delegate {step.delegate_to!r}: {message}"


def share_run_once(step: Step, first: HostStepResult, others: list[Host],
                   registered: dict[str, dict[str, Any]]) -> list[HostStepResult]:
    """The results of `others` in a run_once step whose action ran on `first` only.

    Each is a copy of the first's, marked as such; the first's registered value (if the step
    registers) is registered for each of them too.
    """
    shared = []
    value = registered.get(first.host_id, {}).get(step.register) if step.register else None
    note = f"{RUN_ONCE_NOTE} {first.host_id!r}"
    for host in others:
        message = f"{note}: {first.message}" if first.message else note
        shared.append(replace(first, host_id=host.id, message=message))
        if step.register and value is not None:
            registered.setdefault(host.id, {})[step.register] = copy.deepcopy(value)
    return shared


def is_run_once_copy(result: HostStepResult) -> bool:
    """True for a target's result copied from the host a run_once step ran on."""
    return result.message.startswith(RUN_ONCE_NOTE)


def run_once_source(result: HostStepResult) -> str | None:
    """The host a run_once copy was copied from (None: not a copy)."""
    if not is_run_once_copy(result):
        return None
    head = result.message[len(RUN_ONCE_NOTE):].strip()
    try:
        value = ast.literal_eval(head.split(": ", 1)[0])
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None
