"""Rendering `wait_for` and `interact` steps into their concrete actions.

`ActionRenderer` hands each template of these actions to a `Render` callback (text, what) so
the rendering rules (context, locations, errors) stay in one place; here is only which fields
are templates and which concrete action each variant becomes.
"""

from __future__ import annotations

from collections.abc import Callable

from runbook.model import InteractAction, WaitForAction
from runbook.plan.actions import (
    DialogPair,
    InteractDialog,
    WaitFor,
    WaitForCommand,
    WaitForPath,
    WaitForPort,
)
from runbook.render.jinjaenv import values_typed_as_they_are

Render = Callable[[str, str], str]
"""Renders one template: (text, what it is for messages) -> rendered text."""


def wait_texts(action: WaitForAction) -> list[str]:
    """The strings of a `wait_for` that are rendered per host."""
    return [t for t in (action.address, action.path, action.contains, action.command)
            if t is not None]


def dialog_texts(action: InteractAction) -> list[str]:
    """The strings of an `interact` dialog that are rendered per host."""
    return [t for pair in action.pairs for t in (pair.expect, pair.send) if t is not None]


def render_wait(action: WaitForAction, render: Render, *, become: bool | None,
                become_user: str | None) -> WaitFor:
    """The concrete wait of `action` (templates rendered by `render`)."""
    if action.port is not None:
        address = None if action.address is None else render(action.address, "wait_for address")
        return WaitForPort(action.port, action.state or "started", address, action.timeout,
                           action.delay)
    if action.path is not None:
        contains = None if action.contains is None else render(action.contains,
                                                               "wait_for contains")
        return WaitForPath(render(action.path, "wait_for path"), action.state or "present",
                           contains, action.timeout, action.delay, become, become_user)
    assert action.command is not None
    return WaitForCommand(render(action.command, "wait_for command"), action.timeout,
                          action.delay, become, become_user)


def render_dialog(action: InteractAction, render: Render) -> InteractDialog:
    """The concrete dialog of `action`: each pair's `expect` and `send` rendered."""
    pairs = []
    for number, pair in enumerate(action.pairs, 1):
        expect = None if pair.expect is None else render(pair.expect, f"interact {number} expect")
        with values_typed_as_they_are():
            send = None if pair.send is None else render(pair.send, f"interact {number} send")
        pairs.append(DialogPair(expect, send, pair.timeout))
    return InteractDialog(tuple(pairs))
