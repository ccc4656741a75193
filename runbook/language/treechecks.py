"""Checks of the language's nesting and loops that need more than the schema: what names a
step inside a loop or a rescue / always section may use, and `loop_var` shadowing a name."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from runbook.errors import ConfigError
from runbook.model import RunAction, Step

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.hosts.lab import Lab

LOOP_FIELDS = ("results", "failed")
"""A looped step's registered result also has one result per item and whether any failed."""
FAILURE_NAMES = frozenset({"failed_step", "failed_message"})
"""Inside `rescue` and `always`: the name and message of the step that failed on the host."""


def scoped_names(step: Step) -> set[str]:
    """Names a step sees besides variables and results: its loop item, and inside `rescue` /
    `always` the `failed_step` / `failed_message` of the host's failure."""
    names: set[str] = set()
    if step.loop is not None:
        names.add(step.loop_var)
    if any(phase != "block" for _, phase in step.blocks):
        names |= FAILURE_NAMES
    return names


def loop_problems(step: Step, defined: Collection[str]) -> list[tuple[tuple[str, ...], str]]:
    """`loop_var` hiding a variable or a registered result of the same name."""
    if step.loop is None or step.loop_var not in defined:
        return []
    where = "loop_var" if step.loop_var != "item" else "loop"
    return [((where,), f"loop_var {step.loop_var!r} hides the variable or registered result "
                       f"of the same name inside this step: name the item differently "
                       f"(loop_var: {step.loop_var}_item)")]


def loop_expression(step: Step) -> tuple[str, bool] | None:
    """The loop's template or expression to check (text, is_expression), None for a list."""
    if not isinstance(step.loop, str):
        return None
    text = step.loop.strip()
    if text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1:
        return text[2:-2].strip(), True
    return (text, "{{" not in text)


def step_label(step: Step) -> str:
    """`step 3` at top level; a nested step by its place (`step 2 > rescue[1]`)."""
    path = step.json_path
    if len(path) < 2 or not all(isinstance(p, int) for p in path[1::2]):
        return f"step {step.index + 1}"
    parts = [f"step {int(path[1]) + 1}"]
    parts += [f"{path[i]}[{int(path[i + 1]) + 1}]" for i in range(2, len(path) - 1, 2)]
    return " > ".join(parts)


def included_from(step: Step | None) -> str:
    """` (included from book.yml:3:5 > lib/a.yml:2:5)` for a step read from an include."""
    if step is None:
        return ""
    chain = [str(f.location) for f in step.frames if f.kind == "include"]
    return f" (included from {' > '.join(chain)})" if chain else ""


def enclosing_levels(steps: Iterable[Step]) -> list[Step]:
    """Each block and include that has `hosts`, once, as a stand-in step (at its own place in
    its file) so its patterns get the same checks as a step's."""
    seen: dict[tuple[str, int, int], Step] = {}
    for step in steps:
        for frame in step.frames:
            key = (frame.location.file, frame.location.line, frame.location.column)
            if frame.hosts is None or key in seen:
                continue
            seen[key] = Step(index=step.index, name=frame.name, hosts=frame.hosts,
                             action=RunAction(("",)), location=frame.location,
                             json_path=frame.json_path, source=frame.source)
    return list(seen.values())


def inherited_targets(step: Step, lab: Lab | None) -> list[Host]:
    """The hosts of a step whose `hosts` come from its block or include (their problems are
    reported there); none when a pattern is a template or not a valid regex."""
    if lab is None or any("{" in p for level in (step.hosts, *step.narrow) for p in level):
        return []
    try:
        selected = lab.select(list(step.hosts))
        for level in step.narrow:
            allowed = {h.id for h in lab.select(list(level))}
            selected = [h for h in selected if h.id in allowed]
    except (ConfigError, re.error):
        return []
    return selected


def narrowed(hosts: list[Host], step: Step, lab: Lab | None) -> list[Host]:
    """`hosts` (a step's own matches) kept to those every enclosing level also matches."""
    if not step.narrow or not hosts:
        return hosts
    allowed = {h.id for h in inherited_targets(step, lab)}
    return [h for h in hosts if h.id in allowed]
