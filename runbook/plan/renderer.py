"""`ActionRenderer`: the one place a step's action is rendered for a host.

The compiler calls it for everything that can be rendered before the run; the engine calls it
for steps whose templates use results registered at run time, and to evaluate `when` / `until`.
Both get the same context (lab, host, runbook, step and extra vars, registered results), so a
plan shows exactly what a run will do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.errors import ConfigError, RunbookError
from runbook.language.yamlload import base_folder
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
from runbook.plan.actions import (
    ConcreteAction,
    GetFiles,
    OneshotCommands,
    PowerSwitch,
    PutFiles,
    RunCommands,
)
from runbook.plan.steps import PlannedStep
from runbook.plan.waits import render_dialog, render_wait
from runbook.render.jinjaenv import has_markup
from runbook.render.templating import host_context

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.render.templating import Templater

Registered = Mapping[str, Mapping[str, Any]]
"""Results registered so far: host id -> register name -> result."""


class ActionRenderer:
    """Renders the actions, `when` and `until` of one runbook's steps against one lab."""

    def __init__(self, runbook: Runbook, lab_vars: Mapping[str, Any], templater: Templater, *,
                 extra_vars: Mapping[str, Any] | None = None) -> None:
        self.runbook = runbook
        self.lab_vars = lab_vars
        self.templater = templater
        self.extra_vars: dict[str, Any] = dict(extra_vars or {})
        self.base_dir = base_folder(runbook.path)
        self._templates: dict[Path, str] = {}

    def context(self, step: Step, host: Host, registered: Registered) -> dict[str, Any]:
        """The template context of `host` in `step`: lab, runbook, step, extra vars, results."""
        context: dict[str, Any] = host_context(
            host, lab_vars=self.lab_vars, runbook_vars=self.runbook.vars, step_vars=step.vars,
            extra_vars=self.extra_vars, registered=registered.get(host.id, {}))
        return context

    def evaluate(self, expression: str, step: Step, host: Host, registered: Registered, *,
                 result: Mapping[str, Any] | None = None,
                 extra: Mapping[str, Any] | None = None) -> bool:
        """`when` / `until` of `step` for `host` (`result` is the attempt's result for `until`,
        `extra` a loop's item, which wins over every variable)."""
        ctx = self.context(step, host, registered)
        ctx.update(extra or {})
        if result is not None:
            ctx["result"] = result
        return bool(self.templater.evaluate(expression, ctx, location=step.location))

    def action_for(self, planned: PlannedStep, host: Host,
                   registered: Registered) -> ConcreteAction:
        """The concrete action of `host`: precompiled when possible, else rendered now."""
        done = planned.precompiled(host.id)
        if done is not None:
            return done
        if host.id in planned.errors:
            raise RunbookError(planned.errors[host.id])
        return self.render(planned.step, host, registered)

    def render(self, step: Step, host: Host, registered: Registered) -> ConcreteAction:
        """Render `step`'s action for `host`; raises TemplateError (or RunbookError) on failure."""
        return self.concretize(step, host, self.context(step, host, registered))

    def concretize(self, step: Step, host: Host | None, ctx: dict[str, Any]) -> ConcreteAction:
        """`step`'s action with its templates rendered in `ctx` (`host` None: shared by all)."""
        action = step.action
        if isinstance(action, RunAction | OneshotAction):
            return self._commands(action, step, ctx)
        if isinstance(action, PutAction):
            return self._put(action, step, ctx)
        if isinstance(action, GetAction):
            src = self._text(action.src, ctx, step, "get src")
            local_dest = self.local_path(self._text(action.dest, ctx, step, "get dest"))
            if host is not None:
                local_dest = local_dest / host.id
            return GetFiles((src,), str(local_dest), become=step.become,
                            become_user=step.become_user)
        if isinstance(action, WaitForAction):
            return render_wait(action, lambda text, what: self._text(text, ctx, step, what),
                               become=step.become, become_user=step.become_user)
        if isinstance(action, InteractAction):
            return render_dialog(action, lambda text, what: self._text(text, ctx, step, what))
        assert isinstance(action, PowerAction)
        return PowerSwitch(action.action, wait_up=action.wait_up, wait_down=action.wait_down)

    def _commands(self, action: RunAction | OneshotAction, step: Step,
                  ctx: dict[str, Any]) -> RunCommands | OneshotCommands:
        kind = RunCommands if isinstance(action, RunAction) else OneshotCommands
        cmds = tuple(self._text(c, ctx, step, f"{action.kind} command") for c in action.commands)
        expect = step.expect
        return kind(cmds,
                    expect_output=None if expect is None else self._regex(
                        expect.output, ctx, step, "output"),
                    expect_not_output=None if expect is None else self._regex(
                        expect.not_output, ctx, step, "not_output"),
                    become=step.become, become_user=step.become_user)

    def _put(self, action: PutAction, step: Step, ctx: dict[str, Any]) -> PutFiles:
        src = self._text(action.src, ctx, step, "put src")
        dest = self._text(action.dest, ctx, step, "put dest")
        local = self.local_path(src, step.files_dir)
        content = None
        if action.template:
            content = self._text(self.template_source(local, step), ctx, step, f"template {src}")
        return PutFiles((str(local),), dest, mode=action.mode, content=content,
                        become=step.become, become_user=step.become_user)

    def _text(self, text: str, ctx: dict[str, Any], step: Step, what: str) -> str:
        if not has_markup(text):
            return text
        rendered: str = self.templater.render(text, ctx, location=step.location, what=what)
        return rendered

    def _regex(self, pattern: str | None, ctx: dict[str, Any], step: Step, name: str) -> str | None:
        """An `expect` regex rendered for the host; one that no longer compiles is an error."""
        if pattern is None or not has_markup(pattern):
            return pattern
        rendered = self._text(pattern, ctx, step, f"expect.{name}")
        try:
            re.compile(rendered)
        except re.error as exc:
            where = self.runbook.location_of(step, "expect", name)
            raise RunbookError(f"{where}: expect.{name} renders to {rendered!r}, which "
                               f"is not a valid regular expression: {exc}") from None
        return rendered

    def local_path(self, path: str, folder: Path | None = None) -> Path:
        """A local path of the runbook: `~` expanded, relative to `folder` (a `put` source of
        an included step: its file's folder), else to the runbook's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (folder or self.base_dir) / p

    def template_source(self, path: Path, step: Step) -> str:
        """The text of the template file `path` of a `put` step (read once per run)."""
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


def template_message(step: Step, host: Host, exc: BaseException) -> str:
    """`step 'x' on host 'y': FILE:LINE:COL: message` — where and what failed to render."""
    prefix = f"step {step.name!r} on host {host.id!r}: "
    text = str(exc)
    if text.startswith(prefix):  # already a template message (precompiled at plan time)
        return text
    if step.location.file not in text:
        text = f"{step.location}: {text}"
    return prefix + text
