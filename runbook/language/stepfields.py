"""The template-bearing fields of a step: where they are (a `Field` path) and how findings
name them. Used by the semantic checks (runbook.language.checks) to walk every template.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from runbook.language.stepchecks import action_templates as wait_and_dialog_templates
from runbook.model import Step
from runbook.render.jinjaenv import has_markup

Field = tuple[str | int, ...]
"""Where a value sits in a step: ("run", 0), ("vars", "port"), ("expect", "output")."""


def field_text(field: Field) -> str:
    """A field path as messages show it: `run[1]`, `vars.port`."""
    text = ""
    for part in field:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def template_strings(value: Any, prefix: Field) -> Iterator[tuple[Field, str]]:
    """(path, text) of every string inside `value` that holds Jinja markup."""
    if isinstance(value, str):
        if has_markup(value):
            yield prefix, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from template_strings(item, (*prefix, str(key)))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from template_strings(item, (*prefix, i))


def action_templates(step: Step) -> Iterator[tuple[Field, str]]:
    """(field, text) of each command or path of the step's action, as written."""
    action = step.action
    kind = action.kind
    if kind in ("run", "oneshot"):
        commands: tuple[str, ...] = action.commands  # type: ignore[union-attr]
        for i, command in enumerate(commands):
            yield ((kind, i) if len(commands) > 1 else (kind,)), command
    elif kind in ("put", "get"):
        yield (kind, "src"), action.src  # type: ignore[union-attr]
        yield (kind, "dest"), action.dest  # type: ignore[union-attr]
    else:
        yield from wait_and_dialog_templates(step)
