"""Variables whose templates refer to each other in a loop (`a: '{{ b }}'`, `b: '{{ a }}'`):
they would fail on every host at run time, so validate reports each loop once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jinja2

from runbook.render.jinjaenv import has_markup
from runbook.render.templating import Templater


def variable_cycles(variables: Mapping[str, Any], own: set[str],
                    templater: Templater) -> Iterator[tuple[str, list[str]]]:
    """(name, chain) of each reference loop among `variables`, once per loop, reported at the
    first of its names that is in `own` (the names defined at the level being checked)."""
    edges: dict[str, set[str]] = {}
    for name, value in variables.items():
        if isinstance(value, str) and has_markup(value):
            try:
                edges[name] = templater.referenced_names(value) & set(variables)
            except jinja2.TemplateSyntaxError:  # reported by the template checks
                edges[name] = set()
    reported: set[str] = set()
    for start in variables:
        if start not in own or start in reported:
            continue
        chain = _cycle_from(start, edges)
        if chain is None:
            continue
        reported.update(chain)
        yield start, chain


def _cycle_from(start: str, edges: Mapping[str, set[str]]) -> list[str] | None:
    """The names of a reference loop through `start` (start first), or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        for target in sorted(edges.get(name, ())):
            if target == start:
                return path
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None
