"""`loop:` on a step: the items of a host, each item's result, and the step's result.

Each item is a separate run of the action with the item bound to `loop_var` (default `item`);
`when` is evaluated per item. All items run, even after one fails; the step fails on the
host when an item failed. `register` stores `NAME.results` (one entry per item: item, status,
rc, output) and `NAME.failed`, plus the last item's `output` / `rc` and the overall `status`.
Each item's result is announced as it ends, and a rerun or resume skips the items a host did
ok before (`LoopMemory`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from runbook.engine.events import ItemResult
from runbook.engine.results import HostStepResult
from runbook.errors import RunbookError
from runbook.language.treechecks import loop_expression
from runbook.model import Step
from runbook.render.templating import Templater
from runbook.results import Status

MAX_ITEMS = 10_000
LABEL_WIDTH = 60


def loop_items(step: Step, templater: Templater, context: Mapping[str, Any]) -> list[Any]:
    """The host's items, at most `MAX_ITEMS` of them (more is an error)."""
    items = loop_values(step, templater, context)
    problem = too_many_items(items)
    if problem:
        raise RunbookError(problem)
    return items


def too_many_items(items: Sequence[Any]) -> str | None:
    """Why a host's items are more than a loop may have, or None."""
    if len(items) <= MAX_ITEMS:
        return None
    return (f"loop has {len(items)} items, more than {MAX_ITEMS}: split the work into several "
            "steps or loop inside a command")


def loop_values(step: Step, templater: Templater, context: Mapping[str, Any]) -> list[Any]:
    """The host's items: the written list (string items rendered), or the expression's value."""
    if isinstance(step.loop, tuple):
        return [templater.render_value(i, context, location=step.location) for i in step.loop]
    parsed = loop_expression(step)
    if parsed is None or not parsed[1]:
        raise RunbookError(f"loop {step.loop!r} must be a list or one expression "
                           "(`{{ interfaces }}` or `interfaces`)")
    value = templater.evaluate(parsed[0], context, location=step.location, what="loop")
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
        raise RunbookError(f"loop {step.loop!r} gave {type(value).__name__} "
                           f"{item_label(value)!r}, not a list")
    return list(value)


def item_label(item: Any) -> str:
    """An item as a short label for output and reports."""
    text = item if isinstance(item, str) else json.dumps(item, default=str, sort_keys=True)
    return text if len(text) <= LABEL_WIDTH else text[:LABEL_WIDTH - 3] + "..."


def item_entry(item: Any, result: HostStepResult) -> dict[str, Any]:
    """One item's report entry (also what `NAME.results` holds for templates)."""
    entry: dict[str, Any] = {"item": item_label(item), "status": result.word, "rc": result.rc,
                             "output": result.output}
    if result.message:
        entry["message"] = result.message
    return entry


def combine(host_id: str, started: float, ended: float,
            items: list[tuple[Any, HostStepResult]]) -> HostStepResult:
    """The step's result on the host from its items' results."""
    failed = [(i, r) for i, r in items if not r.status.is_ok]
    ran = [r for _, r in items if r.status is not Status.Skipped]
    if failed:
        status = Status.Error if all(r.status is Status.Error for _, r in failed) else Status.Failed
        shown = ", ".join(f"{item_label(i)} ({r.message or r.word})" for i, r in failed[:3])
        message = f"{len(failed)} of {len(items)} items failed: {shown}" + (
            " ..." if len(failed) > 3 else "")
    elif not ran:
        status, message = Status.Skipped, "skipped: when false for every item" if items \
            else "skipped: loop has no items"
    else:
        status, message = Status.Success, ""
    output = "".join(f"[{item_label(i)}] {r.output}" + ("" if r.output.endswith("\n") else "\n")
                     for i, r in items if r.output)
    last = ran[-1] if ran else None
    return HostStepResult(host_id, status, last.rc if last else None, output, started, ended,
                          message=message, unreachable=bool(failed) and all(
                              r.unreachable for _, r in failed),
                          items=[item_entry(i, r) for i, r in items])


def loop_register_value(result: HostStepResult) -> dict[str, Any]:
    """What `register` stores for a looped step."""
    return {"output": result.output, "rc": result.rc, "status": result.word,
            "results": list(result.items or []),
            "failed": not result.status.is_ok and result.status is not Status.Skipped}


class LoopMemory:
    """The loop items each host finished ok in an earlier run (a rerun or resume skips them),
    and where each item's result is announced as it ends (`ItemResult`, for the journal).

    `done` maps (step index, host id) to {position: the item's report entry}; an item is
    skipped when the entry at its position has the same label and succeeded, and its entry
    is kept as is, so `NAME.results` merges the earlier items with the new ones.
    """

    def __init__(self, emit: Callable[[ItemResult], None]) -> None:
        self.emit = emit
        self.done: dict[tuple[int, str], dict[int, Mapping[str, Any]]] = {}

    def earlier(self, step: Step, host_id: str, position: int,
                item: Any) -> HostStepResult | None:
        """The result of `item` done ok before (rebuilt from its entry), or None: run it."""
        entry = self.done.get((step.index, host_id), {}).get(position)
        if entry is None or entry.get("item") != item_label(item) or entry.get("status") != "success":
            return None
        now = time.time()
        return HostStepResult(host_id, Status.Success, entry.get("rc"),
                              str(entry.get("output") or ""), now, now,
                              message=str(entry.get("message") or ""))

    def finished(self, step: Step, host_id: str, position: int, item: Any,
                 result: HostStepResult) -> None:
        """Announce one item's result on `host_id`."""
        self.emit(ItemResult(step.index, host_id, position, item_entry(item, result)))
