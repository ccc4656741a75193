"""Events the engine emits while it runs; subscribers (console, tests) turn them into output.

The engine never prints. Events are small frozen objects built once per fact, so a subscriber
that ignores them costs next to nothing even at 500 hosts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runbook._dataclass import frozen
from runbook.engine.results import HostStepResult, RunOutcome, StepOutcome


@frozen(slots=True)
class RunStarted:
    """The run begins: runbook name, how many steps and hosts, whether this is a dry run, and
    the steps' names (a console sizes its step column with them)."""

    runbook: str
    steps: int
    hosts: tuple[str, ...]
    started: float
    check: bool = False
    step_names: tuple[str, ...] = ()


@frozen(slots=True)
class StepStarted:
    """A step begins on `total` hosts (its targets still active); `limit` is its concurrency.

    `skipped` counts the targets sitting out because they failed or were unreachable earlier.
    """

    index: int
    name: str
    action: str
    total: int
    limit: int
    skipped: int = 0
    path: str = ""


@frozen(slots=True)
class BatchStarted:
    """A rolling batch begins (`block`: the block whose `batch` it is; None for the runbook)."""

    number: int
    total: int
    hosts: tuple[str, ...]
    block: str | None = None


@frozen(slots=True)
class BatchSkipped:
    """No further batch starts: `reason` says why (too many hosts failed)."""

    number: int
    total: int
    reason: str
    block: str | None = None


@frozen(slots=True)
class HostResult:
    """One host finished (or skipped) a step.

    `registered` is the value the step's `register:` stored for this host (a copy, secrets
    masked), None when the step registers nothing.
    """

    step_index: int
    step_name: str
    result: HostStepResult
    registered: Mapping[str, Any] | None = None


@frozen(slots=True)
class ItemResult:
    """One item of a looped step ended on a host (`position` counts from 0): the journal
    records it, so a resume does not repeat the items a host had done (engine/loop.py)."""

    step_index: int
    host_id: str
    position: int
    entry: Mapping[str, Any]


@frozen(slots=True)
class Rescued:
    """A block's rescue recovered a host: its failures in steps first..last no longer fail it."""

    host_id: str
    block: str
    first: int
    last: int


@frozen(slots=True)
class Progress:
    """`done` of `total` hosts have finished the current step (emitted after each result)."""

    step_index: int
    step_name: str
    done: int
    total: int


@frozen(slots=True)
class StepFinished:
    """A step ended on all its targets."""

    outcome: StepOutcome


@frozen(slots=True)
class PlannedHost:
    """Dry run: what one host would do in one step (rendered text, one line per action)."""

    step_index: int
    step_name: str
    host_id: str
    lines: tuple[str, ...]


@frozen(slots=True)
class RunFinished:
    """The run ended (success, failure or interruption); `outcome` is final."""

    outcome: RunOutcome


Event = (RunStarted | StepStarted | HostResult | Progress | StepFinished | PlannedHost
         | RunFinished | BatchStarted | BatchSkipped | ItemResult | Rescued)
Subscriber = Callable[[Event], None]


class EventBus:
    """Fans events out to subscribers in order; a failing subscriber never stops the run."""

    __slots__ = ("_subscribers", "errors")

    def __init__(self, subscribers: list[Subscriber] | None = None) -> None:
        self._subscribers: list[Subscriber] = list(subscribers or [])
        self.errors: list[BaseException] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        """Add a subscriber; it gets every later event."""
        self._subscribers.append(subscriber)

    def emit(self, event: Event) -> None:
        """Deliver `event` to every subscriber; errors are collected in `errors`, not raised."""
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception as exc:  # output must never kill the run
                self.errors.append(exc)
