"""Compile a `Runbook` + `Lab` + `--limit` + extra vars into a `Plan`, before anything connects.

Per step the plan holds the target hosts (lab order, intersected with the limit), its
concurrency bound, and each host's concrete action rendered once. Templates that use a result
registered by an earlier step can only be rendered at run time; everything else is rendered
here, so a template error is known before the first connection and the executor only looks
the rendered action up (no per-host per-step template work for static steps).

Secrets: a run refuses (`ValidationFailed`, one finding per step and host) any targeted host
whose lab fields need a secret that is not set (`Lab.missing_secrets`); hosts no step targets
need nothing. A dry run (`dry_run=True`) needs no secret at all: unset ones read as `***`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.errors import ConfigError, RunbookError
from runbook.model import (
    GetAction,
    OneshotAction,
    PowerAction,
    PutAction,
    RunAction,
    Runbook,
    Step,
)
from runbook.stepheader import header_context, render_step_header
from runbook.templating import has_markup
from runbook.validate import Finding, ValidationFailed

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.lab import Lab
    from runbook.templating import Templater

Registered = dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ConcreteAction:
    """One host's action with every template rendered.

    run/oneshot: `commands`, and `expect_output` / `expect_not_output` (the step's `expect`
    regexes, rendered for this host). put: `sources` (absolute local paths), `dest` (remote folder),
    `mode`, and `content` when the file is a template rendered for this host. get: `sources`
    (remote paths), `dest` (local folder ending in the host id). power: `verb`, `wait_up`,
    `wait_down`.
    """

    kind: str
    commands: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    dest: str = ""
    mode: int | None = None
    content: str | None = None
    verb: str = ""
    wait_up: float | None = None
    wait_down: float | None = None
    expect_output: str | None = None
    expect_not_output: str | None = None

    def describe(self) -> list[str]:
        """Dry-run lines: what would happen, one line each."""
        if self.kind in ("run", "oneshot"):
            lines = [f"{self.kind}: {c}" for c in self.commands]
            if self.expect_output is not None:
                lines.append(f"expect output to match: {self.expect_output}")
            if self.expect_not_output is not None:
                lines.append(f"expect output not to match: {self.expect_not_output}")
            return lines
        if self.kind == "put":
            mode = f" (mode {self.mode:04o})" if self.mode is not None else ""
            what = "rendered template " if self.content is not None else ""
            return [f"put {what}{s} -> {self.dest}{mode}" for s in self.sources]
        if self.kind == "get":
            return [f"get {s} -> {self.dest}" for s in self.sources]
        waits = []
        if self.wait_down is not None:
            waits.append(f"wait until down ({self.wait_down:g}s)")
        if self.wait_up is not None:
            waits.append(f"wait until up ({self.wait_up:g}s)")
        return [f"power {self.verb}" + (", then " + ", ".join(waits) if waits else "")]


@dataclass(slots=True)
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

    @property
    def serial(self) -> bool:
        """True for `concurrent: false` (and `concurrent: 1`): one host at a time, lab order."""
        return self.limit == 1


def _action_strings(step: Step) -> list[str]:
    """The strings of `step` rendered per host with its action (commands, paths, expect)."""
    action = step.action
    if isinstance(action, RunAction | OneshotAction):
        expect = step.expect
        patterns = [] if expect is None else [expect.output, expect.not_output]
        return [*action.commands, *(p for p in patterns if p is not None)]
    if isinstance(action, PutAction | GetAction):
        return [action.src, action.dest]
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


class Plan:
    """A compiled runbook: steps with targets and rendered actions, plus what renders at run time."""

    def __init__(self, runbook: Runbook, lab: Lab, templater: Templater, *,
                 extra_vars: Mapping[str, Any] | None = None, limit: str | None = None,
                 fail_fast: bool = False, dry_run: bool = False,
                 output_limit: int | None = None) -> None:
        self.runbook = runbook
        #: The run's output limit (`--output-limit`) for steps that set none; None: default.
        self.output_limit = output_limit
        self.lab = lab
        self.dry_run = dry_run
        if dry_run:
            from runbook.secrets import PlaceholderSecrets
            from runbook.templating import Templater as _Templater

            templater = _Templater(PlaceholderSecrets(templater.secrets))
        self.templater = templater
        self.extra_vars: dict[str, Any] = dict(extra_vars or {})
        self.limit = limit
        self.fail_fast = fail_fast or runbook.fail_fast
        self.base_dir = runbook.path.parent
        self._templates: dict[Path, str] = {}
        self.steps: list[PlannedStep] = []
        self.hosts: list[Host] = []

    def output_limit_of(self, step: Step) -> int:
        """Bytes of each command's output kept from each end: the step's own `output_limit`,
        else the run's, else `DEFAULT_OUTPUT_LIMIT` (0: everything)."""
        from runbook.hosts.output import DEFAULT_OUTPUT_LIMIT

        for limit in (step.output_limit, self.output_limit):
            if limit is not None:
                return limit
        return DEFAULT_OUTPUT_LIMIT

    # -- compile -------------------------------------------------------------------------
    def compile(self) -> Plan:
        """Resolve targets and render every template that does not need a registered result."""
        limit_re = _compile_limit(self.limit)
        registered_before: set[str] = set()
        seen: dict[str, Host] = {}
        unset: list[Finding] = []
        header_ctx = header_context(lab_vars=self.lab.vars, runbook_vars=self.runbook.vars,
                                    extra_vars=self.extra_vars)
        for original in self.runbook.steps:
            step = render_step_header(original, self.templater, header_ctx,
                                      getattr(self.runbook, "location_of", None))
            try:
                selected = self.lab.select(list(step.hosts))
            except re.error as exc:
                raise ConfigError(f"step {step.name!r}: bad hosts regex: {exc}",
                                  file=step.location.file, line=step.location.line,
                                  column=step.location.column) from exc
            targets = tuple(h for h in selected if limit_re is None or limit_re.search(h.id))
            for host in targets:
                seen.setdefault(host.id, host)
            if not self.dry_run:
                unset += self._unset_secrets(step, targets)
            texts = _action_strings(step)
            templated = any(has_markup(t) for t in texts)
            if isinstance(step.action, PutAction) and step.action.template:
                if not has_markup(step.action.src):
                    texts.append(self._template_source(self._local(step.action.src), step))
                templated = True
            runtime = self._needs_registered(step, texts, targets, registered_before)
            planned = PlannedStep(step, targets, _step_limit(step), runtime)
            if not runtime:
                if not templated and isinstance(step.action, GetAction):
                    # no templates, but the local folder is per host: dest/<host id>
                    for host in targets:
                        planned.rendered[host.id] = self._concretize(step, host, {})
                elif not templated:
                    planned.static = self._concretize(step, None, {})
                else:
                    for host in targets:
                        try:
                            planned.rendered[host.id] = self.render(step, host, {})
                        except RunbookError as exc:
                            planned.errors[host.id] = self.template_message(step, host, exc)
            self.steps.append(planned)
            if step.register:
                registered_before.add(step.register)
        if unset:
            raise ValidationFailed(unset)
        order = {h.id: i for i, h in enumerate(self.lab.hosts)}
        self.hosts = sorted(seen.values(), key=lambda h: order.get(h.id, len(order)))
        return self

    def _unset_secrets(self, step: Step, targets: tuple[Host, ...]) -> list[Finding]:
        """A finding per unset secret the step's action on its targets needs."""
        needs = getattr(self.lab, "missing_secrets", None)
        if not needs:
            return []
        action = step.action
        waits = isinstance(action, PowerAction) and (
            action.wait_up is not None or action.wait_down is not None)
        loc = step.location
        found: list[Finding] = []
        for host in targets:
            host_needs = needs.get(host.id)
            if host_needs is None:
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
                   self.extra_vars]
        needed = self.templater.transitive_names(texts, _template_vars(sources))
        return bool(needed & registered)

    # -- rendering -----------------------------------------------------------------------
    def context(self, step: Step, host: Host, registered: Registered) -> dict[str, Any]:
        """The template context of `host` in `step`: lab, runbook, step, extra vars, results."""
        from runbook.templating import host_context

        context: dict[str, Any] = host_context(host, lab_vars=self.lab.vars, runbook_vars=self.runbook.vars,
                            step_vars=step.vars, extra_vars=self.extra_vars,
                            registered=registered.get(host.id, {}))
        return context

    def action_for(self, planned: PlannedStep, host: Host,
                   registered: Registered) -> ConcreteAction:
        """The concrete action of `host`: precompiled when possible, else rendered now."""
        if planned.static is not None:
            return planned.static
        done = planned.rendered.get(host.id)
        if done is not None:
            return done
        if host.id in planned.errors:
            raise RunbookError(planned.errors[host.id])
        return self.render(planned.step, host, registered)

    def render(self, step: Step, host: Host, registered: Registered) -> ConcreteAction:
        """Render `step`'s action for `host`; raises TemplateError (or RunbookError) on failure."""
        ctx = self.context(step, host, registered)
        return self._concretize(step, host, ctx)

    def _text(self, text: str, ctx: dict[str, Any], step: Step, what: str) -> str:
        if not has_markup(text):
            return text
        rendered: str = self.templater.render(text, ctx, location=step.location, what=what)
        return rendered

    def _concretize(self, step: Step, host: Host | None, ctx: dict[str, Any]) -> ConcreteAction:
        action = step.action
        if isinstance(action, RunAction | OneshotAction):
            cmds = tuple(self._text(c, ctx, step, f"{action.kind} command") for c in action.commands)
            expect = step.expect
            if expect is None:
                return ConcreteAction(action.kind, commands=cmds)
            return ConcreteAction(
                action.kind, commands=cmds,
                expect_output=self._regex(expect.output, ctx, step, "output"),
                expect_not_output=self._regex(expect.not_output, ctx, step, "not_output"))
        if isinstance(action, PutAction):
            src = self._text(action.src, ctx, step, "put src")
            dest = self._text(action.dest, ctx, step, "put dest")
            local = self._local(src)
            content = None
            if action.template:
                content = self._text(self._template_source(local, step), ctx, step,
                                     f"template {src}")
            return ConcreteAction("put", sources=(str(local),), dest=dest, mode=action.mode,
                                  content=content)
        if isinstance(action, GetAction):
            src = self._text(action.src, ctx, step, "get src")
            local_dest = self._local(self._text(action.dest, ctx, step, "get dest"))
            if host is not None:
                local_dest = local_dest / host.id
            return ConcreteAction("get", sources=(src,), dest=str(local_dest))
        assert isinstance(action, PowerAction)
        return ConcreteAction("power", verb=action.action, wait_up=action.wait_up,
                              wait_down=action.wait_down)

    def _regex(self, pattern: str | None, ctx: dict[str, Any], step: Step, name: str) -> str | None:
        """An `expect` regex rendered for the host; one that no longer compiles is an error."""
        if pattern is None or not has_markup(pattern):
            return pattern
        rendered = self._text(pattern, ctx, step, f"expect.{name}")
        try:
            re.compile(rendered)
        except re.error as exc:
            location_of = getattr(self.runbook, "location_of", None)
            where = location_of(step, "expect", name) if location_of else step.location
            raise RunbookError(f"{where}: expect.{name} renders to {rendered!r}, which "
                               f"is not a valid regular expression: {exc}") from None
        return rendered

    def _local(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def _template_source(self, path: Path, step: Step) -> str:
        text = self._templates.get(path)
        if text is None:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"step {step.name!r}: cannot read template {path}: "
                                  f"{exc.strerror or exc}", file=step.location.file,
                                  line=step.location.line, column=step.location.column) from exc
            self._templates[path] = text
        return text

    @staticmethod
    def template_message(step: Step, host: Host, exc: BaseException) -> str:
        """`step 'x' on host 'y': FILE:LINE:COL: message` — where and what failed to render."""
        prefix = f"step {step.name!r} on host {host.id!r}: "
        text = str(exc)
        if text.startswith(prefix):  # already a template message (precompiled at plan time)
            return text
        if step.location.file not in text:
            text = f"{step.location}: {text}"
        return prefix + text


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
    try:
        return re.compile(limit)
    except re.error as exc:
        raise ConfigError(f"--limit {limit!r} is not a valid regular expression: {exc}") from exc


def compile_plan(runbook: Runbook, lab: Lab, templater: Templater, *,
                 extra_vars: Mapping[str, Any] | None = None, limit: str | None = None,
                 fail_fast: bool = False, dry_run: bool = False,
                 output_limit: int | None = None) -> Plan:
    """Compile `runbook` against `lab`: targets per step, actions rendered where possible.

    `dry_run` (plan / --check): secrets that are not set render as `***` instead of failing.
    Otherwise a targeted host that needs an unset secret is a `ValidationFailed`.
    """
    return Plan(runbook, lab, templater, extra_vars=extra_vars, limit=limit,
                fail_fast=fail_fast, dry_run=dry_run, output_limit=output_limit).compile()
