"""The engine: run a compiled plan across hosts and report through events.

`Executor` runs a `runbook.plan.compiler.Plan`; `events` are what it emits; `results` what it records.
The engine never prints: the CLI's console and the reports subscribe to it.
"""

from runbook.engine.events import EventBus
from runbook.engine.executor import Executor
from runbook.engine.results import HostStepResult, RunOutcome, RunStatus, StepOutcome

__all__ = [
    "EventBus",
    "Executor",
    "HostStepResult",
    "RunOutcome",
    "RunStatus",
    "StepOutcome",
]
