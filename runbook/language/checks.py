"""Semantic checks of a runbook against a lab (what the JSON Schema cannot express).

Regexes compile; a step's `hosts` matches some host; Jinja templates and expressions parse;
every name a template uses is defined somewhere (lab vars, runbook vars, host vars, step vars,
extra vars, results registered by earlier steps, built-ins; `until` also sees the step's own
register); power steps target hosts with power control; `put` sources exist. The template
checks and where a finding goes live in the base class (runbook.language.templatechecks).
Entry point: `runbook.language.validate.check_runbook`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from runbook._suggest import did_you_mean
from runbook.errors import ConfigError
from runbook.language.findings import Finding
from runbook.language.stepchecks import (
    check_console_targets,
    check_delegate,
    check_modifiers,
    cli_host_ids,
)
from runbook.language.stepfields import Field, action_templates, field_text, template_strings
from runbook.language.templatechecks import TemplateChecks
from runbook.language.treechecks import (
    enclosing_levels,
    inherited_targets,
    loop_expression,
    loop_problems,
    narrowed,
    scoped_names,
)
from runbook.language.varsfile import reserved_name_problem
from runbook.language.yamlload import base_folder, expand_home
from runbook.model import GetAction, PowerAction, PutAction, Step
from runbook.render import stepheader
from runbook.render.jinjaenv import has_markup

if TYPE_CHECKING:
    from runbook.hosts.base import Host


class RunbookChecker(TemplateChecks):
    """Runs every semantic check of one runbook; `run()` returns the findings."""

    def run(self) -> list[Finding]:
        """Every finding of the runbook's vars, its enclosing levels and its steps, in order."""
        base_known = (self.templater.builtin_names | set(self.runbook.vars) | set(self.extra)
                      | set(self.lab.vars if self.lab is not None else {}) | self.lab_names)
        all_host_vars = {n for h in (self.lab or []) for n in h.vars}
        all_registers = self.registered | {s.register for s in self.runbook.steps if s.register}
        self.check_reserved(None, self.runbook.vars)
        self.check_cycles(None, self.runbook.vars, set(self.runbook.vars))
        for name, value in template_strings(self.runbook.vars, ("vars",)):
            self.check_template(None, name, value, base_known | all_host_vars | all_registers, [])
        for level in enclosing_levels(self.runbook.steps):
            self.check_hosts(level)
        for step in self.runbook.steps:
            self.check_step(step, base_known)
            if step.register:
                self.registered.add(step.register)
        return sorted(self.findings, key=lambda f: (f.file, f.line, f.column))

    def target_findings(self) -> list[Finding]:
        """Only what needs nothing of the lab but its host ids: each level's and step's
        static `hosts` matches a host, `delegate_to` names one. Validate runs these against a
        lab file that has findings of its own, so one pass lists every problem."""
        levels = [*enclosing_levels(self.runbook.steps), *(
            s for s in self.runbook.steps if not s.frames or "hosts" in self.raw_step(s))]
        for level in levels:
            if not any(has_markup(p) for p in level.hosts):
                self.check_hosts(level)
        for step in self.runbook.steps:
            check_delegate(step, self.lab, self.add)
        return sorted(self.findings, key=lambda f: (f.file, f.line, f.column))

    def check_step(self, step: Step, base_known: set[str] | frozenset[str]) -> None:
        """Every check of one step: header, hosts, variables, templates, expect, action."""
        if step.named and has_markup(step.name):
            self.render_header(step, ("name",), step.name)
        inherited = bool(step.frames) and "hosts" not in self.raw_step(step)
        # hosts passed in by a block or include are checked once, at the block or include
        hosts = inherited_targets(step, self.lab) if inherited else narrowed(
            self.check_hosts(step), step, self.lab)
        self.check_step_names(step)
        known = set(base_known) | self.registered | set(step.vars)
        for field, message in loop_problems(step, known):
            self.add(step, field, message, key=True)
        known |= scoped_names(step)
        self.check_step_templates(step, known, hosts)
        self.check_expect(step, known, hosts)
        self.check_action(step, known, hosts)

    def check_step_names(self, step: Step) -> None:
        """The step's own variables and `register` name: not reserved, no template loops."""
        self.check_reserved(step, step.vars)
        if step.vars:
            self.check_cycles(step, {**self.runbook.vars, **step.vars}, set(step.vars))
        if step.register:
            problem = reserved_name_problem(step.register)
            if problem:
                self.add(step, ("register",), problem)

    def check_step_templates(self, step: Step, known: set[str], hosts: list[Host]) -> None:
        """The action's templates, the step's vars, `when` and `until` use defined names."""
        for field, text in action_templates(step):
            self.check_template(step, field, text, known, hosts)
        for field, text in template_strings(step.vars, ("vars",)):
            self.check_template(step, field, text, known, hosts)
        if step.when is not None:
            self.check_template(step, ("when",), step.when, known, hosts, expression=True)
        loop = loop_expression(step)
        if loop is not None:
            self.check_template(step, ("loop",), loop[0], known - {step.loop_var}, hosts,
                                expression=loop[1])
        if step.until is not None:
            # The executor also offers the step's own result as `result` to `until`.
            own = known | {"result"} | ({step.register} if step.register else set())
            self.check_template(step, ("until",), step.until, own, hosts, expression=True)

    def check_expect(self, step: Step, known: set[str], hosts: list[Host]) -> None:
        """`expect` only on command steps; its regexes compile (or, templated, render)."""
        if step.expect is None:
            return
        if step.action.kind not in ("run", "oneshot"):
            self.add(step, ("expect",), f"expect checks command results: it applies to run and "
                     f"oneshot steps only and would be ignored on a {step.action.kind} step")
        for name, pattern in (("output", step.expect.output),
                              ("not_output", step.expect.not_output)):
            if pattern is not None and has_markup(pattern):
                # rendered per host like the commands; the regex is checked once rendered
                self.check_template(step, ("expect", name), pattern, known, hosts)
            elif pattern is not None:
                self.check_regex(step, ("expect", name), pattern)

    def check_action(self, step: Step, known: set[str], hosts: list[Host]) -> None:
        """What the action needs: power control on its hosts, readable put sources, a get folder."""
        action = step.action
        self.check_cli_hosts(step, hosts)
        check_modifiers(step, self.lab, self.add, hosts)
        check_console_targets(step, hosts, self.add)
        if isinstance(action, PowerAction) and hosts:
            missing = [h.id for h in hosts if h.power_control is None]
            if missing:
                self.add(step, ("power",), f"power {action.action} needs power_control, which "
                         f"host(s) {', '.join(missing)} do not have: add power_control to them "
                         "in the lab file, or narrow `hosts`")
        if isinstance(action, PutAction):
            self.check_put(step, action, known, hosts)
        if isinstance(action, GetAction) and not has_markup(action.dest):
            dest = self._local_path(step, ("get", "dest"), action.dest)
            if dest is not None and dest.exists() and not dest.is_dir():
                self.add(step, ("get", "dest"), f"get.dest {action.dest!r} is an existing file; "
                         "get copies into a folder (one subfolder per host): name a folder")

    def check_cli_hosts(self, step: Step, hosts: list[Host]) -> None:
        """`shell: cli` hosts have no files to copy and no exit codes to expect."""
        cli = cli_host_ids(hosts)
        kind = step.action.kind
        if cli and kind in ("put", "get"):
            self.add(step, (kind,), f"{kind} is not supported on `shell: cli` host(s) "
                     f"{', '.join(cli)}: a network CLI has no shell to copy files with")
        if cli and step.expect is not None and step.expect.rc is not None:
            self.add(step, ("expect", "rc"), f"expect.rc needs exit codes, which `shell: cli` "
                     f"host(s) {', '.join(cli)} do not give: check expect.output / not_output")

    def check_regex(self, step: Step, field: Field, pattern: str) -> re.Pattern[str] | None:
        """The compiled `pattern`; None, after a finding, when it does not compile."""
        try:
            return re.compile(pattern)
        except re.error as exc:
            self.add(step, field, f"invalid regular expression {pattern!r}: {exc}")
            return None

    def check_hosts(self, step: Step) -> list[Host]:
        """The hosts `hosts` selects (before `--limit`); a finding for a pattern, or each entry
        of a list, that matches no lab host (a typo that would silently shrink the step)."""
        many = len(step.hosts) > 1
        patterns: list[str] = []
        for i, raw in enumerate(step.hosts):
            rendered = (self.render_header(step, ("hosts", i) if many else ("hosts",), raw)
                        if has_markup(raw) else raw)
            if rendered is None:
                return []
            patterns.append(rendered)
        compiled = [self.check_regex(step, ("hosts", i) if many else ("hosts",), p)
                    for i, p in enumerate(patterns)]
        if self.lab is None or any(c is None for c in compiled):
            return []
        regexes = [c for c in compiled if c is not None]
        for i, regex in enumerate(regexes):
            if not self.lab.select(regex):
                field: Field = ("hosts", i) if many else ("hosts",)
                self.add(step, field, self._no_match(field, step.hosts[i], patterns[i], regex))
        return self.lab.select(regexes)

    def _no_match(self, field: Field, raw: str, pattern: str, regex: re.Pattern[str]) -> str:
        """`hosts 'x' matches no host of the lab (hosts: ...); did you mean ...`."""
        assert self.lab is not None
        ids = [h.id for h in self.lab]
        shown = repr(pattern) if pattern == raw else f"{raw!r} (rendered {pattern!r})"
        listed = ", ".join(ids[:10]) + (f", ... ({len(ids)} hosts)" if len(ids) > 10 else "")
        suggestion = did_you_mean(pattern, ids) or did_you_mean(
            re.sub(r"[\\^$.*+?()\[\]{}|]", "", pattern), ids)
        builtin = sorted(b for b in self.lab.builtin if regex.search(b))
        if builtin:
            suggestion = (f"the built-in host {builtin[0]!r} (this machine) is only targeted "
                          f"by its whole id: write hosts: {builtin[0]}")
        return (f"{stepheader.label(field)} {shown} matches no host of the lab (hosts: {listed})"
                + (f"; {suggestion}" if suggestion else ""))

    def _local_path(self, step: Step, field: Field, text: str) -> Path | None:
        """A local path of a put/get step: `~` expanded, relative to the runbook's real
        folder (None, after a finding, when `~user` names no user)."""
        try:
            path = expand_home(text)
        except ConfigError as exc:
            self.add(step, field, f"{field_text(field)}: {exc.message}")
            return None
        folder = step.files_dir if field[0] == "put" and step.files_dir \
            else base_folder(self.runbook.path)
        return path if path.is_absolute() else folder / path

    def check_put(self, step: Step, action: PutAction, known: set[str] | frozenset[str],
                  hosts: list[Host]) -> None:
        """A plain put source exists, is a file or folder, and (as a template) reads and parses."""
        if has_markup(action.src):
            return
        src = self._local_path(step, ("put", "src"), action.src)
        if src is None:
            return
        if not src.exists():
            where = "the folder of the file it is written in" if step.files_dir else \
                "the runbook's folder"
            self.add(step, ("put", "src"), f"put.src {action.src!r} does not exist (paths are "
                     f"relative to {where})")
            return
        if not (src.is_file() or src.is_dir()):
            self.add(step, ("put", "src"), f"put.src {action.src!r} is not a regular file or "
                     "folder (a pipe, socket or device): put copies files")
            return
        if action.template and src.is_dir():
            self.add(step, ("put", "template"), f"put.template renders one file, but put.src "
                     f"{action.src!r} is a folder: drop template or put a single file")
            return
        if action.template and src.is_file():
            try:
                text = src.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self.add(step, ("put", "src"), f"put.src {action.src!r} cannot be read as a "
                         f"text template: {exc}")
                return
            self.check_template(step, ("put", "src"), text, known, hosts)
