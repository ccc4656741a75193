"""Jinja2 templating of runbook strings, per host, with StrictUndefined.

One `Templater` renders every string of a run. Compiled templates and expressions are cached
by their source text (a step rendered for 500 hosts compiles once), and strings without any
Jinja markup skip Jinja entirely.

Variables whose value is itself a template (`url: "http://{{ host.address }}/"`) are rendered
lazily when used, against the same context; a variable that refers to itself is an error
(the Jinja environment doing this, with its size limits and filters, is `render.jinjaenv`).

Context precedence, highest first (see `host_context`): extra vars (`-e`), registered results,
step vars, host vars, runbook vars, lab vars. `host` (id, address, port, user, vars) and the
function `secret(name)` are always there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.parser import Parser
from jinja2.runtime import Undefined

from runbook._suggest import did_you_mean
from runbook.errors import TemplateError, TemplateRenderError
from runbook.language.varsfile import RESERVED_NAMES
from runbook.model import Location
from runbook.render.jinjaenv import has_markup, new_environment, run_template
from runbook.render.secrets import SecretStore

if TYPE_CHECKING:
    from runbook.hosts.base import Host


def _field_message(attr: str, text: str, context: Mapping[str, Any]) -> str:
    """"no field" message for `x.attr`, naming the expression and the fields there are."""
    used = re.search(r"([A-Za-z_][\w.]*)\." + re.escape(attr) + r"\b", text)
    if used is None:
        return f"there is no field {attr!r} in the value used"
    subject = used.group(1)
    value: Any = context
    for part in subject.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    message = f"{subject}.{attr}: {subject} has no field {attr!r}"
    if isinstance(value, Mapping) and value:
        keys = [str(k) for k in value]
        suggestion = did_you_mean(attr, keys)
        message += (f"; {suggestion}" if suggestion else "") + f" (fields: {', '.join(keys)})"
    return message


def _undefined_name(message: str) -> str | None:
    match = re.match(r"'([^']+)' is undefined", message)
    return match.group(1) if match else None


class Templater:
    """Renders runbook strings and evaluates `when` / `until` expressions."""

    def __init__(self, secrets: SecretStore | None = None) -> None:
        self.secrets = secrets if secrets is not None else SecretStore()
        env = new_environment(self)
        env.globals["secret"] = self._secret
        self.env = env
        self._globals: dict[str, Any] = dict(env.globals)
        self._templates: dict[str, jinja2.Template] = {}
        self._expressions: dict[str, jinja2.Template] = {}
        self._asts: dict[tuple[str, bool], nodes.Template] = {}

    @property
    def builtin_names(self) -> frozenset[str]:
        """Names every template can use without defining them (`host`, `secret`, `range`, ...)."""
        return frozenset(self.env.globals) | RESERVED_NAMES

    # -- compiling ------------------------------------------------------------------------
    def compile(self, text: str) -> jinja2.Template:
        """The compiled template for `text` (cached); raises jinja2.TemplateSyntaxError."""
        template = self._templates.get(text)
        if template is None:
            template = self.env.from_string(text)
            self._templates[text] = template
        return template

    def compile_expression(self, expr: str) -> jinja2.Template:
        """A template storing `expr`'s value as `result` (cached); raises TemplateSyntaxError."""
        compiled = self._expressions.get(expr)
        if compiled is None:
            node = self._expression_node(expr)
            body = [nodes.Assign(nodes.Name("result", "store"), node, lineno=1)]
            compiled = self.env.from_string(nodes.Template(body, lineno=1))
            self._expressions[expr] = compiled
        return compiled

    def _expression_node(self, expr: str) -> nodes.Expr:
        parser = Parser(self.env, expr, state="variable")
        node = parser.parse_expression()
        if not parser.stream.eos:
            raise jinja2.TemplateSyntaxError("chunk after expression",
                                             parser.stream.current.lineno, None, None)
        return node

    def parse(self, text: str, *, expression: bool = False) -> nodes.Template:
        """The AST of a template or expression (cached, no code generation); raises
        TemplateSyntaxError for bad syntax and for unknown filters or tests."""
        key = (text, expression)
        ast = self._asts.get(key)
        if ast is None:
            if expression:
                ast = nodes.Template([nodes.Output([self._expression_node(text)], lineno=1)],
                                     lineno=1)
                ast.set_environment(self.env)
            else:
                ast = self.env.parse(text)
            for flt in ast.find_all(nodes.Filter):
                if flt.name not in self.env.filters:
                    raise jinja2.TemplateSyntaxError(f"No filter named {flt.name!r}.",
                                                     flt.lineno)
            for test in ast.find_all(nodes.Test):
                if test.name not in self.env.tests:
                    raise jinja2.TemplateSyntaxError(f"No test named {test.name!r}.",
                                                     test.lineno)
            self._asts[key] = ast
        return ast

    # -- rendering ------------------------------------------------------------------------
    def render(self, text: str, context: Mapping[str, Any], *,
               location: Location | None = None, what: str = "") -> str:
        """Render `text` against `context`; `TemplateRenderError` names location, what, name."""
        if not has_markup(text):
            return text
        try:
            return run_template(self.compile(text), self._variables(context))
        except Exception as exc:
            raise self._error(exc, context, location, what, text) from None

    def _variables(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Globals, then the context (which may shadow `range` & co., but not `secret`)."""
        return {**self._globals, **context, "secret": self._secret}

    def _secret(self, *args: Any, **kwargs: Any) -> str:
        """`secret('NAME')` in templates: exactly one name, a string."""
        if len(args) != 1 or kwargs or not isinstance(args[0], str) or not args[0]:
            given = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
            raise TemplateError(f"secret() takes one secret name, like secret('DB_PASSWORD'), "
                                f"not secret({given})")
        return self.secrets.get(args[0])

    def render_value(self, value: Any, context: Mapping[str, Any], *,
                     location: Location | None = None, what: str = "") -> Any:
        """Render every string inside `value` (lists and mappings recursively)."""
        if isinstance(value, str):
            return self.render(value, context, location=location, what=what)
        if isinstance(value, list | tuple):
            return [self.render_value(v, context, location=location, what=what) for v in value]
        if isinstance(value, Mapping):
            return {k: self.render_value(v, context, location=location, what=what)
                    for k, v in value.items()}
        return value

    def evaluate(self, expr: str, context: Mapping[str, Any], *,
                 location: Location | None = None, what: str = "") -> Any:
        """Evaluate a Jinja expression (no `{{ }}`), e.g. `rc == 0 and 'up' in out.output`."""
        try:
            template = self.compile_expression(expr)
            ctx = template.new_context(self._variables(context), shared=True)
            for _ in template.root_render_func(ctx):
                pass
            result = ctx.vars["result"]
            if isinstance(result, Undefined):
                result._fail_with_undefined_error()
            return result
        except Exception as exc:
            raise self._error(exc, context, location, what, expr) from None

    def _error(self, exc: Exception, context: Mapping[str, Any], location: Location | None,
               what: str, text: str = "") -> TemplateRenderError:
        if isinstance(exc, TemplateRenderError):
            return TemplateRenderError(exc.problem, location=location, what=what,
                                       undefined=exc.undefined)
        if isinstance(exc, jinja2.UndefinedError):
            message = exc.message or str(exc)
            missing = re.match(r"'(?:dict|list|str|int|float) object' has no attribute '([^']+)'",
                               message)
            if missing is not None:
                return TemplateRenderError(_field_message(missing.group(1), text, context),
                                           location=location, what=what)
            name = _undefined_name(message)
            if name is not None:
                message = f"undefined variable {name!r}"
                suggestion = did_you_mean(name, [*context, *self.builtin_names])
                if suggestion:
                    message += f"; {suggestion}"
            return TemplateRenderError(message, location=location, what=what, undefined=name)
        if isinstance(exc, jinja2.TemplateSyntaxError):
            return TemplateRenderError(f"Jinja syntax error: {exc.message}", location=location,
                                       what=what)
        if isinstance(exc, TemplateError):
            return TemplateRenderError(str(exc), location=location, what=what)
        return TemplateRenderError(f"{type(exc).__name__}: {exc}", location=location, what=what)

    # -- static analysis (validation) -------------------------------------------------------
    def syntax_error(self, text: str, *, expression: bool = False) -> tuple[int, str] | None:
        """(line within the text, message) of a syntax error in a template/expression, or None."""
        try:
            if expression or has_markup(text):
                self.parse(text, expression=expression)
        except jinja2.TemplateSyntaxError as exc:
            return (exc.lineno or 1), exc.message or str(exc)
        return None

    def referenced_names(self, text: str) -> set[str]:
        """Top-level names `text` needs defined (names only tested with `is defined` or given
        a `default` are left out). Raises jinja2.TemplateSyntaxError."""
        if not has_markup(text):
            return set()
        return _needed_names(self.parse(text))

    def transitive_names(self, texts: list[str], variables: Mapping[str, Any], *,
                         expressions: tuple[str, ...] = ()) -> set[str]:
        """Every name `texts` (templates) and `expressions` need, following variables whose
        values are templates (rendered lazily): `msg: "{{ r.output }}"` makes a text using
        `msg` depend on `r` too. Used to tell what can only be rendered at run time."""
        pending: set[str] = set()
        for text in texts:
            pending |= self.referenced_names(text)
        for expr in expressions:
            pending |= self.expression_names(expr)
        needed: set[str] = set()
        while pending:
            name = pending.pop()
            if name in needed:
                continue
            needed.add(name)
            value = variables.get(name)
            if isinstance(value, str) and has_markup(value):
                pending |= self.referenced_names(value) - needed
        return needed

    def expression_names(self, expr: str) -> set[str]:
        """Like `referenced_names`, for a bare expression (`when`, `until`)."""
        return _needed_names(self.parse(expr, expression=True))


def _root_name(node: nodes.Node) -> str | None:
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        node = node.node
    return node.name if isinstance(node, nodes.Name) else None


def _needed_names(ast: nodes.Template) -> set[str]:
    names = set(jinja2.meta.find_undeclared_variables(ast))
    guarded: set[str] = set()
    for test in ast.find_all(nodes.Test):
        if test.name in ("defined", "undefined"):
            guarded.add(_root_name(test.node) or "")
    for flt in ast.find_all(nodes.Filter):
        if flt.name in ("default", "d") and flt.node is not None:
            guarded.add(_root_name(flt.node) or "")
    return names - guarded


def host_fields(host: Host) -> dict[str, Any]:
    """What templates see as `host`: id, address, port, user and the host's vars."""
    return {"id": host.id, "address": getattr(host, "address", None),
            "port": getattr(host, "port", None), "user": getattr(host, "user", None),
            "vars": dict(host.vars)}


def host_context(host: Host, *, lab_vars: Mapping[str, Any] | None = None,
                 runbook_vars: Mapping[str, Any] | None = None,
                 step_vars: Mapping[str, Any] | None = None,
                 extra_vars: Mapping[str, Any] | None = None,
                 registered: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The variables a template sees on `host`.

    Later layers win: lab vars < runbook vars < host vars < step vars < registered results
    < extra vars. `host` is always the host's own fields and cannot be overridden.
    """
    context: dict[str, Any] = {}
    for layer in (lab_vars, runbook_vars, host.vars, step_vars, registered, extra_vars):
        if layer:
            context.update(layer)
    context["host"] = host_fields(host)
    return context
