"""`PlannedStep`: one step of a compiled plan, with its targets and per-host rendered actions."""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from runbook._dataclass import mutable
from runbook.model import Step
from runbook.plan.actions import ConcreteAction

if TYPE_CHECKING:
    from runbook.hosts.base import Host


@mutable(slots=True)
class PlannedStep:
    """A step with its targets and, per host, its rendered action or the error rendering hit.

    `rendered` lacks a host when the step's templates depend on registered results (rendered
    at run time) or the action has no templates at all (`static` is then shared by all hosts).
    """

    step: Step
    targets: tuple[Host, ...]
    limit: int | None
    runtime_render: bool
    static: ConcreteAction | None = None
    rendered: dict[str, ConcreteAction] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    #: Bytes of each command's output kept from each end: the step's `output_limit`, else the
    #: run's (`--output-limit`); None: the hosts' default (64 KiB); 0: everything.
    output_limit: int | None = None

    @property
    def serial(self) -> bool:
        """True for `concurrent: false` (and `concurrent: 1`): one host at a time, lab order."""
        return self.limit == 1

    def precompiled(self, host_id: str) -> ConcreteAction | None:
        """The action compiled for `host_id` before the run, or None when it renders at run time."""
        return self.static if self.static is not None else self.rendered.get(host_id)
