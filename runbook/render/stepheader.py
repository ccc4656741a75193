"""A step's `name` and `hosts`: templates rendered once per step, before its hosts are chosen.

So they see lab vars, runbook vars and extra vars (and `secret()`), but not `host`, host vars,
step vars or registered results, which exist only per host. The planner renders them
(`render_step_header`); `runbook validate` checks them with the same rules (`render_text`,
`unseen_name_hint`), so what validates also plans.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from runbook._suggest import did_you_mean
from runbook.errors import ConfigError, HeaderTemplateError, RunbookError
from runbook.model import Location, Step
from runbook.render.jinjaenv import has_markup
from runbook.render.templating import Templater

SCOPE = "lab vars, runbook vars and -e"
HeaderField = tuple[str | int, ...]


def header_context(*, lab_vars: Mapping[str, Any] | None = None,
                   runbook_vars: Mapping[str, Any] | None = None,
                   extra_vars: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The variables `name` and `hosts` see: lab < runbook < extra vars."""
    context: dict[str, Any] = {}
    for layer in (lab_vars, runbook_vars, extra_vars):
        if layer:
            context.update(layer)
    return context


def templated_fields(step: Step) -> list[tuple[HeaderField, str]]:
    """(field, text) of the step's templated header strings: `name` when the runbook gave it
    (a name made from the action is shown as is), and each `hosts` pattern."""
    found: list[tuple[HeaderField, str]] = []
    if step.named and has_markup(step.name):
        found.append((("name",), step.name))
    many = len(step.hosts) > 1
    found += [(("hosts", i) if many else ("hosts",), p)
              for i, p in enumerate(step.hosts) if has_markup(p)]
    return found


def label(field: HeaderField) -> str:
    """`name`, `hosts` or `hosts[1]`, as messages name the field."""
    return str(field[0]) + (f"[{field[1]}]" if len(field) > 1 else "")


def render_text(templater: Templater, field: HeaderField, text: str,
                context: Mapping[str, Any]) -> str:
    """Render one header string; `HeaderTemplateError` when it fails or a pattern renders empty
    (an empty regex would match every host). `hosts` patterns are stripped."""
    what = label(field)
    try:
        rendered = templater.render(text, context)
    except RunbookError as exc:
        raise HeaderTemplateError(f"{what}: {getattr(exc, 'problem', exc)} ({what} is rendered once "
                            f"per step and sees {SCOPE} only)") from None
    if field[0] != "hosts":
        return rendered
    if not rendered.strip():
        raise HeaderTemplateError(f"{what} {text!r} renders to an empty pattern, which would match "
                            "every host: give it a value")
    return rendered.strip()


def render_step_header(step: Step, templater: Templater, context: Mapping[str, Any],
                       location_of: Callable[..., Location] | None = None) -> Step:
    """`step` with its templated `name` and `hosts` rendered (the same object when it has
    none); a `ConfigError` at the field's line (from `location_of(step, *field)`) if one fails."""
    fields = templated_fields(step)
    if not fields:
        return step
    rendered: dict[HeaderField, str] = {}
    for field, text in fields:
        try:
            rendered[field] = render_text(templater, field, text, context)
        except HeaderTemplateError as exc:
            loc = location_of(step, *field) if location_of is not None else step.location
            raise ConfigError(f"step {step.index + 1}: {exc}", file=loc.file, line=loc.line,
                              column=loc.column) from None
    many = len(step.hosts) > 1
    hosts = tuple(rendered.get(("hosts", i) if many else ("hosts",), p)
                  for i, p in enumerate(step.hosts))
    return dataclasses.replace(step, name=rendered.get(("name",), step.name), hosts=hosts)


def unseen_name_hint(step: Step, what: str, name: str, known: Collection[str], *,
                     host_vars: Iterable[Mapping[str, Any]], registers: Collection[str]) -> str:
    """What to do about `name`, which `what` (a header field) uses but cannot see: say why
    when it is something only a host's templates see, else where to define it."""
    scope = (f"{what} is rendered once per step, before its hosts are chosen, and sees "
             f"{SCOPE} only")
    if name == "host":
        return f"{scope}, not `host`"
    if name in step.vars:
        return f"{scope}, not the step's own vars: move {name!r} to the runbook's vars"
    if any(name in v for v in host_vars):
        return f"{scope}, not host vars"
    if name in registers:
        return f"{scope}, not registered results"
    suggestion = did_you_mean(name, known)
    return ("define it in the runbook's or the lab's vars, or pass -e"
            + (f"; {suggestion}" if suggestion else ""))
