"""The state of a runbook's semantic check, where its findings go, and its template checks.

`TemplateChecks` is the base of `runbook.language.checks.RunbookChecker`: it knows the runbook,
the lab and the names registered so far, places a finding at a step's field (with the step's
label), and checks Jinja templates and expressions: syntax, names that are defined nowhere,
fields a host or a registered result cannot have, variables whose templates loop, and a
step's templated `name` / `hosts` rendered the way the planner will.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from jinja2 import nodes

from runbook._suggest import did_you_mean
from runbook.errors import HeaderTemplateError
from runbook.language.findings import Finding
from runbook.language.stepfields import Field, field_text
from runbook.language.treechecks import LOOP_FIELDS, included_from, step_label
from runbook.language.varcycles import variable_cycles
from runbook.language.varsfile import reserved_name_problem
from runbook.model import Location, Runbook, Step
from runbook.render import stepheader
from runbook.render.secrets import PlaceholderSecrets
from runbook.render.templating import Templater

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.hosts.lab import Lab


# What a template sees: `host.<field>` and a registered result's `<name>.<field>`.
HOST_FIELDS = ("id", "address", "port", "user", "vars")
RESULT_FIELDS = ("output", "rc", "status", "state", "elapsed")


class TemplateChecks:
    """A runbook checker's state and findings, and its checks of templates (see module doc)."""

    def __init__(self, runbook: Runbook, lab: Lab | None, *,
                 extra_vars: Mapping[str, Any] | None = None,
                 lost_registers: set[str] | None = None,
                 lab_names: Collection[str] = ()) -> None:
        self.runbook = runbook
        self.lab = lab
        #: Names the vars of a lab file define that was not built for its findings (`lab`
        #: None): known, so not reported as undefined, though their values are not.
        self.lab_names = frozenset(lab_names)
        self.extra = dict(extra_vars or {})
        # Nothing here needs a real secret: `secret()` in name/hosts renders as `***`.
        self.templater = Templater(PlaceholderSecrets())
        self.findings: list[Finding] = []
        self.registered: set[str] = set(lost_registers or ())
        self.document = getattr(runbook, "document", None)
        self.loop_registers = {s.register for s in runbook.steps if s.register and s.loop}

    # -- helpers ------------------------------------------------------------------------------
    def loc(self, step: Step | None, field: Field, *, key: bool = False) -> Location:
        """Where `field` of `step` (or of the runbook, step None) is written."""
        if step is not None and step.source is not None:
            return step.source.location(  # type: ignore[no-any-return]
                (*step.json_path, *field), key=key)
        if self.document is not None:
            prefix: Field = ("steps", step.index) if step is not None else ()
            return self.document.location(  # type: ignore[no-any-return]
                (*prefix, *field), key=key)
        if step is not None:
            return step.location
        return Location(str(self.runbook.path), 1, 1)

    def add(self, step: Step | None, field: Field, message: str, line_offset: int = 0, *,
            key: bool = False) -> None:
        """A finding at `field` of `step`, said for the step (`step 2 ('name'): ...`)."""
        loc = self.loc(step, field, key=key)
        owner = ""
        if step is not None:
            explicit = self.document is None or "name" in self.raw_step(step)
            owner = step_label(step) + (f" ({step.name!r})" if explicit else "") + ": "
        self.findings.append(Finding(loc.file, loc.line + line_offset, loc.column,
                                     owner + message + included_from(step)))

    def raw_step(self, step: Step) -> Mapping[str, Any]:
        """The step's mapping as written (empty when it cannot be found)."""
        document = step.source if step.source is not None else self.document
        raw = getattr(document, "data", None)
        for part in step.json_path or ("steps", step.index):
            try:
                raw = raw[part]  # type: ignore[index]
            except (TypeError, KeyError, IndexError):
                return {}
        return raw if isinstance(raw, dict) else {}

    # -- template checks ----------------------------------------------------------------------
    def check_cycles(self, step: Step | None, variables: Mapping[str, Any],
                     own: set[str]) -> None:
        """Variables whose templates refer to each other in a loop (`a: '{{ b }}'`,
        `b: '{{ a }}'`) fail on every host at run time; report each loop once, at the
        first of its names defined here (`own`)."""
        for start, chain in variable_cycles(variables, own, self.templater):
            loop = " -> ".join([*chain, chain[0]])
            self.add(step, ("vars", start), f"variable {start!r} refers to itself ({loop}): "
                     "break the loop", key=True)

    def check_reserved(self, step: Step | None, variables: Mapping[str, Any]) -> None:
        """Variable names templates reserve for themselves (`host`, `secret`)."""
        for name in variables:
            problem = reserved_name_problem(name)
            if problem:
                self.add(step, ("vars", name), problem, key=True)

    def render_header(self, step: Step, field: Field, text: str) -> str | None:
        """Check and render a templated `name` or `hosts` pattern the way the planner will
        (see `runbook.render.stepheader`). None, after a finding, if it fails."""
        what = stepheader.label(field)
        problem = self.templater.syntax_error(text)
        if problem is not None:
            self.add(step, field, f"Jinja syntax error in {what}: {problem[1]}",
                     line_offset=problem[0] - 1)
            return None
        lab_vars = self.lab.vars if self.lab is not None else {}
        known = ((self.templater.builtin_names - {"host"}) | set(self.runbook.vars)
                 | set(self.extra) | set(lab_vars) | self.lab_names)
        referenced = self.templater.referenced_names(text)
        missing = sorted(referenced - known)
        registers = self.registered | {s.register for s in self.runbook.steps if s.register}
        for name in missing:
            hint = stepheader.unseen_name_hint(step, what, name, known, registers=registers,
                                               host_vars=[h.vars for h in self.lab or []])
            self.add(step, field, f"undefined variable {name!r} in {what}: {hint}")
        if missing or referenced & self.lab_names:  # no values of an unbuilt lab's vars
            return None
        context = stepheader.header_context(lab_vars=lab_vars, runbook_vars=self.runbook.vars,
                                            extra_vars=self.extra)
        try:
            return stepheader.render_text(self.templater, field, text, context)
        except HeaderTemplateError as exc:
            self.add(step, field, str(exc))
            return None

    def check_template(self, step: Step | None, field: Field, text: str,
                       known: set[str] | frozenset[str], hosts: list[Host], *,
                       expression: bool = False) -> None:
        """A template (or, `expression`, a bare Jinja expression) parses and uses only
        `known` names and fields that exist."""
        what = field_text(field)
        stripped = text.strip()
        if expression and stripped.startswith("{{"):
            inner = stripped[2:-2].strip() if stripped.endswith("}}") else None
            self.add(step, field, f"{what} is a Jinja expression: drop the {{{{ }}}}"
                     + (f" (write {inner!r})" if inner and "{{" not in inner else ""))
            return
        problem = self.templater.syntax_error(text, expression=expression)
        if problem is not None:
            self.add(step, field, f"Jinja syntax error in {what}: {problem[1]}",
                     line_offset=problem[0] - 1 if not expression else 0)
            return
        names = (self.templater.expression_names(text) if expression
                 else self.templater.referenced_names(text))
        for name in sorted(names - known):
            self.undefined(step, field, name, known=known, hosts=hosts)
        results = (self.registered | ({"result"} if field == ("until",) else set())
                   | ({step.register} if step is not None and step.register
                      and field == ("until",) else set()))
        self.check_fields(step, field, self.templater.parse(text, expression=expression),
                          results - set(self.extra))

    def check_fields(self, step: Step | None, field: Field, ast: nodes.Template,
                     results: set[str]) -> None:
        """`r.outptu` on a registered result, `host.adress`: fields that cannot exist."""
        assigned = {n.name for n in ast.find_all(nodes.Name) if n.ctx != "load"}
        for node in ast.find_all(nodes.Getattr):
            if not isinstance(node.node, nodes.Name) or node.node.name in assigned:
                continue
            name = node.node.name
            fields: tuple[str, ...]
            if name == "host":
                fields = HOST_FIELDS
                what = "the host"
            elif name in results:
                fields = RESULT_FIELDS + (LOOP_FIELDS if name in self.loop_registers else ())
                what = f"the registered result {name!r}" if name != "result" else "result"
            else:
                continue
            if node.attr in fields:
                continue
            suggestion = did_you_mean(node.attr, fields)
            self.add(step, field, f"{name}.{node.attr}: {what} has no field {node.attr!r}"
                     + (f"; {suggestion}" if suggestion else "")
                     + f" (fields: {', '.join(fields)})")

    def undefined(self, step: Step | None, field: Field, name: str, *,
                  known: set[str] | frozenset[str], hosts: list[Host]) -> None:
        """A finding for the undefined `name`, unless some of `hosts` define it in their vars."""
        what = field_text(field)
        having = [h.id for h in hosts if name in h.vars]
        if having:
            lacking = [h.id for h in hosts if name not in h.vars]
            if lacking:
                self.add(step, field, f"variable {name!r} used in {what} is undefined on "
                         f"host(s) {', '.join(lacking)} (only the vars of {', '.join(having)} "
                         "define it)")
            return
        if step is None and self.lab is not None and any(name in h.vars for h in self.lab):
            return
        pool = set(known) | {n for h in hosts for n in h.vars}
        suggestion = did_you_mean(name, pool)
        self.add(step, field, f"undefined variable {name!r} in {what}: define it in vars (lab, "
                 "runbook, host or step), pass -e, or register it in an earlier step"
                 + (f"; {suggestion}" if suggestion else ""))
