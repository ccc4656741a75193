"""In-memory hosts and helpers that isolate the engine's scheduling logic from real shells.

A `FakeHost` interprets tiny command words instead of running a shell:
``sleep:S`` waits S seconds, ``rc:N`` exits N, ``echo:TEXT`` prints TEXT, ``count`` prints how
many times this host ran `count`. Every call is logged with start/end times, and a shared
`Tracker` records the peak number of hosts busy at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbook.engine.events import Event, EventBus
from runbook.engine.executor import Executor
from runbook.engine.results import RunOutcome
from runbook.errors import HostUnreachableError
from runbook.hosts.base import Host
from runbook.hosts.lab import Lab
from runbook.model import Action, Location, RunAction, Runbook, Step
from runbook.plan.compiler import Plan, compile_plan
from runbook.render.templating import Templater
from runbook.results import CommandStatus, RunResult, Status

LOC = Location("book.yml", 3, 5)


@dataclass
class Tracker:
    """Shared by the fake hosts of one test: concurrency now and at peak, call log."""

    busy: int = 0
    peak: int = 0
    calls: list[tuple[str, str, float, float]] = field(default_factory=list)


class FakeHost(Host):
    """A host whose commands are interpreted in memory (see module docstring)."""

    def __init__(self, id: str, tracker: Tracker, *, unreachable: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(id, **kwargs)
        self.address = f"fake-{id}"
        self.port = None
        self.user = None
        self.tracker = tracker
        self.unreachable = unreachable
        self.counter = 0
        self.closed = 0
        self.resets = 0

    async def _interpret(self, command: str) -> CommandStatus:
        if self.unreachable:
            raise HostUnreachableError(self.id, self.address, "connection refused")
        t = self.tracker
        t.busy += 1
        t.peak = max(t.peak, t.busy)
        start = time.time()
        try:
            output, rc = "", 0
            for word in command.split():
                verb, _, arg = word.partition(":")
                if verb == "sleep":
                    await asyncio.sleep(float(arg))
                elif verb == "rc":
                    rc = int(arg)
                elif verb == "echo":
                    output += arg + "\n"
                elif verb == "count":
                    self.counter += 1
                    output += f"{self.counter}\n"
                else:
                    output += word + "\n"
        finally:
            t.busy -= 1
            t.calls.append((self.id, command, start, time.time()))
        return CommandStatus(command, output, Status.Success if rc == 0 else Status.Failed, rc)

    async def run(self, cmds: str | Sequence[str], timeout: float | None = None,
                  **options: Any) -> RunResult:
        commands = [cmds] if isinstance(cmds, str) else list(cmds)
        statuses: list[CommandStatus] = []
        for command in commands:
            if statuses and not statuses[-1].status.is_ok:
                statuses.append(CommandStatus(command, "", Status.Skipped, None))
                continue
            statuses.append(await self._interpret(command))
        return RunResult.from_statuses(statuses)

    async def oneshot(self, cmd: str, timeout: float | None = None,
                      **options: Any) -> CommandStatus:
        return await self._interpret(cmd)

    async def _open_shell_channel(self) -> Any:
        raise NotImplementedError

    async def _signal_group(self, pgid: int, signal: str) -> None:
        raise NotImplementedError

    async def put(self, src_files: Any, dest_dir: Any, mode: int | None = None,
                  **become: Any) -> tuple[Status, str]:
        return Status.Success, f"put {src_files} -> {dest_dir}"

    async def get(self, src_files: Any, dest_dir: Any, **become: Any) -> tuple[Status, str]:
        return Status.Success, f"get {src_files} -> {dest_dir}"

    async def close(self) -> None:
        self.closed += 1

    async def reset_connection(self) -> None:
        self.resets += 1


def step(index: int, name: str, action: Action | str, hosts: tuple[str, ...] = (".*",),
         **kwargs: Any) -> Step:
    """A Step at a fixed location; a str action means `run: <str>`."""
    if isinstance(action, str):
        action = RunAction((action,))
    return Step(index, name, hosts, action, Location(LOC.file, LOC.line + index * 3, 5),
                **kwargs)


def runbook(*steps: Step, path: Path | None = None, **kwargs: Any) -> Runbook:
    """A Runbook of `steps` (indexes as given) at `path` (default ./book.yml)."""
    return Runbook(path or Path("book.yml"), "test-book", tuple(steps), **kwargs)


def fake_lab(n: int, tracker: Tracker | None = None, unreachable: Sequence[str] = (),
             **kwargs: Any) -> Lab:
    """A Lab of n FakeHosts named f01.. sharing `tracker`."""
    tracker = tracker or Tracker()
    hosts = [FakeHost(f"f{i + 1:02d}", tracker, unreachable=f"f{i + 1:02d}" in unreachable)
             for i in range(n)]
    return Lab(hosts, **kwargs)


def make_executor(book: Runbook, lab: Lab, *, forks: int = 50, limit: str | None = None,
                  extra_vars: dict[str, Any] | None = None, fail_fast: bool = False,
                  templater: Templater | None = None) -> tuple[Executor, list[Event]]:
    """An Executor plus the list its events are appended to."""
    plan: Plan = compile_plan(book, lab, templater or Templater(), extra_vars=extra_vars,
                              limit=limit, fail_fast=fail_fast)
    events: list[Event] = []
    executor = Executor(plan, forks=forks, bus=EventBus([events.append]))
    return executor, events


def run(book: Runbook, lab: Lab, **kwargs: Any) -> RunOutcome:
    """Compile and run `book` on `lab`; the outcome."""
    executor, _ = make_executor(book, lab, **kwargs)
    return asyncio.run(executor.run())


def statuses(outcome: RunOutcome) -> list[dict[str, str]]:
    """Per step, host id -> status value (for compact assertions)."""
    return [{h: r.word for h, r in s.results.items()} for s in outcome.steps]
