"""Compile a `Runbook` + `Lab` + `--limit` + extra vars into a `Plan`, before anything connects.

Per step the plan holds the target hosts (lab order, intersected with the limit), its
concurrency bound, and each host's concrete action rendered once. Templates that use a result
registered by an earlier step can only be rendered at run time; everything else is rendered
here, so a template error is known before the first connection and the executor only looks
the rendered action up (no per-host per-step template work for static steps).

Secrets: a run refuses (`ValidationError`, one finding per step and host) any targeted host
whose lab fields need a secret that is not set (`Lab.missing_secrets`); hosts no step targets
need nothing. A dry run (`dry_run=True`) needs no secret at all: unset ones read as `***`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from runbook._dataclass import mutable
from runbook.errors import ConfigError, RunbookError, ValidationError
from runbook.language.findings import Finding
from runbook.language.treechecks import scoped_names
from runbook.model import (
    GetAction,
    InteractAction,
    OneshotAction,
    PowerAction,
    PutAction,
    RunAction,
    Runbook,
    Step,
    WaitForAction,
)
from runbook.plan.batches import failure_limit, split
from runbook.plan.renderer import ActionRenderer, template_message
from runbook.plan.steps import PlannedStep
from runbook.plan.waits import dialog_texts, wait_texts
from runbook.render.jinjaenv import has_markup
from runbook.render.secrets import PlaceholderSecrets
from runbook.render.stepheader import header_context, render_step_header, render_text
from runbook.render.templating import Templater

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.hosts.lab import Lab


def _action_strings(step: Step) -> list[str]:
    """The strings of `step` rendered per host with its action (commands, paths, expect)."""
    action = step.action
    if isinstance(action, RunAction | OneshotAction):
        expect = step.expect
        patterns = [] if expect is None else [expect.output, expect.not_output]
        return [*action.commands, *(p for p in patterns if p is not None)]
    if isinstance(action, PutAction | GetAction):
        return [action.src, action.dest]
    if isinstance(action, WaitForAction):
        return wait_texts(action)
    if isinstance(action, InteractAction):
        return dialog_texts(action)
    return []


def _template_vars(sources: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each variable name with all its template values joined (several sources may set it).

    Only used to follow which names a template needs through variables whose values are
    templates; joining is conservative: a name depends on what any of its values uses.
    """
    found: dict[str, list[str]] = {}
    for source in sources:
        for name, value in source.items():
            if isinstance(value, str) and has_markup(value):
                found.setdefault(name, []).append(value)
    return {name: " ".join(values) for name, values in found.items()}


@mutable(slots=True)
class Plan:
    """A compiled runbook, as data: steps with targets and rendered actions, the hosts they
    touch in lab order, the runbook's batches of them (one batch without `batch`), and the
    renderer the engine uses for what renders at run time."""

    runbook: Runbook
    lab: Lab
    renderer: ActionRenderer
    steps: list[PlannedStep] = field(default_factory=list)
    hosts: list[Host] = field(default_factory=list)
    fail_fast: bool = False
    dry_run: bool = False
    batches: list[list[Host]] = field(default_factory=list)
    #: How the steps were chosen (`tags`, `skip_tags`, `start_at`; empty: all of them), so
    #: that a site worker compiles the same steps with the same indices (runbook.sites).
    selection: dict[str, Any] = field(default_factory=dict)
    #: The run's output limit (`--output-limit`) for steps that set none; None: the default.
    output_limit: int | None = None


class _Compiler:
    """Builds one `Plan`: resolves targets and renders every template not needing a result."""

    def __init__(self, runbook: Runbook, lab: Lab, renderer: ActionRenderer, *,
                 limit: str | None, dry_run: bool, output_limit: int | None = None) -> None:
        self.runbook = runbook
        self.output_limit = output_limit
        self.lab = lab
        self.renderer = renderer
        self.limit = limit
        self.dry_run = dry_run

    def compile(self, plan: Plan) -> Plan:
        """Fill `plan` step by step; `ValidationError` lists the targeted hosts missing secrets."""
        limit_re = _compile_limit(self.limit)
        registered_before: set[str] = set()
        seen: dict[str, Host] = {}
        unset: list[Finding] = []
        header_ctx = header_context(lab_vars=self.lab.vars, runbook_vars=self.runbook.vars,
                                    extra_vars=self.renderer.extra_vars)
        for original in self.runbook.steps:
            step = render_step_header(original, self.renderer.templater, header_ctx,
                                      self.runbook.location_of)
            targets = self._targets(step, limit_re, header_ctx)
            for host in targets:
                seen.setdefault(host.id, host)
            if not self.dry_run:
                unset += self._unset_secrets(step, targets)
            plan.steps.append(self._plan_step(step, targets, registered_before))
            if step.register:
                registered_before.add(step.register)
        if unset:
            raise ValidationError(unset)
        order = {h.id: i for i, h in enumerate(self.lab.hosts)}
        plan.hosts = sorted(seen.values(), key=lambda h: order.get(h.id, len(order)))
        plan.batches = split(plan.hosts, self.runbook.batch)
        failure_limit(self.runbook.max_failed, len(plan.hosts))  # a bad value fails here
        return plan

    def _targets(self, step: Step, limit_re: re.Pattern[str] | None,
                 header_ctx: Mapping[str, Any]) -> tuple[Host, ...]:
        try:
            selected = self.lab.select(list(step.hosts))
        except re.error as exc:
            raise ConfigError(f"step {step.name!r}: bad hosts regex: {exc}",
                              file=step.location.file, line=step.location.line,
                              column=step.location.column) from exc
        for level in step.narrow:  # enclosing blocks' and includes' hosts: match each
            patterns = [render_text(self.renderer.templater, ("hosts",), p, header_ctx)
                        for p in level]
            allowed = {h.id for h in self.lab.select(patterns)}
            selected = [h for h in selected if h.id in allowed]
        return tuple(h for h in selected if limit_re is None or limit_re.search(h.id))

    def _plan_step(self, step: Step, targets: tuple[Host, ...],
                   registered_before: set[str]) -> PlannedStep:
        """The step with its actions rendered now, unless they need a registered result."""
        texts = _action_strings(step)
        templated = any(has_markup(t) for t in texts)
        if isinstance(step.action, PutAction) and step.action.template:
            if not has_markup(step.action.src):
                texts.append(self.renderer.template_source(
                    self.renderer.local_path(step.action.src, step.files_dir), step))
            templated = True
        # a loop renders per item, at run time (its templates use the loop variable)
        runtime = step.loop is not None or self._needs_registered(
            step, texts, targets, registered_before | scoped_names(step))
        planned = PlannedStep(step, targets, _step_limit(step), runtime,
                              output_limit=self.output_limit if step.output_limit is None
                              else step.output_limit)
        if runtime:
            return planned
        if not templated and isinstance(step.action, GetAction):
            # no templates, but the local folder is per host: dest/<host id>
            for host in targets:
                planned.rendered[host.id] = self.renderer.concretize(step, host, {})
        elif not templated:
            planned.static = self.renderer.concretize(step, None, {})
        else:
            for host in targets:
                try:
                    planned.rendered[host.id] = self.renderer.render(step, host, {})
                except RunbookError as exc:
                    planned.errors[host.id] = template_message(step, host, exc)
        return planned

    def _unset_secrets(self, step: Step, targets: tuple[Host, ...]) -> list[Finding]:
        """A finding per unset secret the step's action on its targets needs."""
        needs = self.lab.missing_secrets
        if not needs:
            return []
        action = step.action
        waits = isinstance(action, PowerAction) and (
            action.wait_up is not None or action.wait_down is not None)
        loc = step.location
        found: list[Finding] = []
        for host in targets:
            host_needs = needs.get(host.id)
            if host_needs is None or host.id in self.lab.site_of:  # secrets resolved on its site
                continue
            for missing in host_needs.for_action(action.kind, waits=waits):
                found.append(Finding(loc.file, loc.line, loc.column,
                                     f"step {step.index + 1} ({step.name!r}): "
                                     + missing.message(target=host.id)))
        return found

    def _needs_registered(self, step: Step, texts: list[str], targets: tuple[Host, ...],
                          registered: set[str]) -> bool:
        """True when the step's templates use an earlier step's registered result, directly or
        through variables whose values are templates (`msg: "{{ r.output }}"`)."""
        if not registered or not any(has_markup(t) for t in texts):
            return False
        sources = [self.lab.vars, *(h.vars for h in targets), self.runbook.vars, step.vars,
                   self.renderer.extra_vars]
        needed = self.renderer.templater.transitive_names(texts, _template_vars(sources))
        return bool(needed & registered)


def _step_limit(step: Step) -> int | None:
    """The step's own concurrency bound: None (only --forks), 1 for `false`, N for `N`."""
    if step.concurrent is True:
        return None
    if step.concurrent is False:
        return 1
    return max(1, int(step.concurrent))


def _compile_limit(limit: str | None) -> re.Pattern[str] | None:
    if limit is None:
        return None
    if not limit.strip():
        # `--limit "$HOSTS"` with HOSTS unset would otherwise run on every host
        raise ConfigError(f"--limit {limit!r} is empty, which would match every host: give a "
                          "pattern, or leave --limit out")
    try:
        return re.compile(limit)
    except re.error as exc:
        raise ConfigError(f"--limit {limit!r} is not a valid regular expression: {exc}") from exc


def compile_plan(runbook: Runbook, lab: Lab, templater: Templater, *,
                 extra_vars: Mapping[str, Any] | None = None, limit: str | None = None,
                 fail_fast: bool = False, dry_run: bool = False,
                 output_limit: int | None = None) -> Plan:
    """Compile `runbook` against `lab`: targets per step, actions rendered where possible.

    `output_limit` (`--output-limit`): bytes of each command's output kept from each end for
    steps without their own (None: the hosts' default; 0: everything).

    `dry_run` (plan / --check): secrets that are not set render as `***` instead of failing.
    Otherwise a targeted host that needs an unset secret is a `ValidationError`.
    """
    if dry_run:
        templater = Templater(PlaceholderSecrets(templater.secrets))
    renderer = ActionRenderer(runbook, lab.vars, templater, extra_vars=extra_vars)
    plan = Plan(runbook, lab, renderer, fail_fast=fail_fast or runbook.fail_fast, dry_run=dry_run,
                output_limit=output_limit)
    return _Compiler(runbook, lab, renderer, limit=limit, dry_run=dry_run,
                     output_limit=output_limit).compile(plan)
