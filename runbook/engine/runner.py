"""What the commands need of a run, whoever drives its hosts: the `Runner` protocol.

`Executor` (this machine drives every host) and `runbook.sites.controller.SiteRun` (site
workers drive some of them) both offer it, so the lab locks (`cli.locking.run_locked`), the
run folder (`runbook.records.RunRecorder`) and the reports treat a multi-site run like any
other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from runbook.engine.events import EventBus
    from runbook.engine.results import RunOutcome
    from runbook.hosts.hostlog import HostLog
    from runbook.plan.compiler import Plan


class Runner(Protocol):
    """One run of a compiled plan; see the module docstring."""

    host_logs: Callable[[str], HostLog | None]
    """Each host's transcript (`RunRecorder` sets it; for a multi-site run the workers'
    text for their hosts is appended to it)."""

    @property
    def halted(self) -> str | None:
        """Why no new step (or host) starts any more (fail_fast, a lost lock); None while
        running."""

    @property
    def plan(self) -> Plan:
        """The whole plan: every host the run targets, whichever part drives it."""

    @property
    def bus(self) -> EventBus:
        """Where the run's events are emitted (for a multi-site run: merged from every part)."""

    @property
    def mask(self) -> Callable[[str], str]:
        """Hides the run's secrets in any text."""

    @property
    def outcome(self) -> RunOutcome:
        """The run's record so far (complete once `run` returned or `abandon` was called)."""

    def halt(self, reason: str, *, cancel: bool = False, keep: str | None = None) -> None:
        """Start nothing new from now on (every part of a multi-site run); what runs finishes
        unless `cancel` (fail_fast: all but `keep`'s work); then the pending `always` steps
        of the blocks hosts entered run, and the run ends failed."""

    def cleanup_budget(self) -> float:
        """Seconds the pending `always` steps may take after an interruption."""

    async def run(self) -> RunOutcome:
        """Run the plan; re-raises cancellation after recording what happened."""

    def abandon(self) -> RunOutcome:
        """Finish the record now as interrupted, awaiting nothing (a second Ctrl-C)."""

    def check(self) -> RunOutcome:
        """The dry run: what each host would do; connects nothing."""
