"""The Jinja environment under every `Templater`: lazy variables and size limits.

A string variable holding a template is rendered when a template uses it (`LazyContext`), with
a loop of such variables reported as an error; `*`, `**` and `range` refuse results that would
exhaust memory; `quote` and `regex_escape` are the filters runbook adds. `runbook.render.
templating.Templater` builds its environment with `new_environment`.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import shlex
from collections.abc import Iterator
from typing import Any, Protocol

import jinja2
from jinja2.lexer import Lexer
from jinja2.runtime import Context

from runbook._text import unspell_keys
from runbook.errors import TemplateError, TemplateRenderError


class Compiler(Protocol):
    """What the environment needs of its templater: compiling (cached) a template's text."""

    def compile(self, text: str) -> jinja2.Template: ...


_MARKUP = ("{{", "{%", "{#")
_resolving: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "runbook_resolving", default=())
#: Set while an `interact` send renders: each `{{ }}` value is escaped into key spelling.
_spelling_values: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "runbook_spelling_values", default=False)


@contextlib.contextmanager
def values_typed_as_they_are() -> Iterator[None]:
    """Render an `interact` send: key spelling (`\\r`, `^C`) applies to the runbook's own
    text, while every value a `{{ }}` puts in (a secret holding `\\` or `^`) is escaped so
    that it is typed exactly as it is (`hosts.expect.unspell_keys`)."""
    token = _spelling_values.set(True)
    try:
        yield
    finally:
        _spelling_values.reset(token)


@jinja2.pass_environment  # never applied at compile time, where constants are folded
def _finalize(_env: jinja2.Environment, value: Any) -> Any:
    """Jinja's hook on every `{{ }}` value: escaped into key spelling inside a send."""
    return unspell_keys(str(value)) if _spelling_values.get() else value


def has_markup(text: str) -> bool:
    """True when `text` holds Jinja markup and must be rendered."""
    return any(m in text for m in _MARKUP)


def quote(value: Any) -> str:
    """The `quote` filter: shell-quote a value (`shlex.quote` of its string form)."""
    return shlex.quote(str(value))


def regex_escape(value: Any) -> str:
    """The `regex_escape` filter: a value matched literally inside an `expect` regex
    (`re.escape`, so the dots of `fw-2.4.1.bin` match only dots)."""
    return re.escape(str(value))


class LazyContext(Context):
    """A Jinja context that renders string variables holding templates when they are used."""

    def resolve_or_missing(self, key: str) -> Any:
        value = super().resolve_or_missing(key)
        if (isinstance(value, str) and key not in self.vars and has_markup(value)
                and isinstance(self.environment, TemplateEnvironment)):
            stack = _resolving.get()
            if key in stack:
                chain = " -> ".join((*stack[stack.index(key):], key))
                raise TemplateRenderError(f"variable {key!r} refers to itself ({chain})")
            token = _resolving.set((*stack, key))
            spelling = _spelling_values.set(False)  # escaped once, where the outer send uses it
            try:
                return run_template(self.environment.templater.compile(value), self.parent)
            finally:
                _spelling_values.reset(spelling)
                _resolving.reset(token)
        return value


def run_template(template: jinja2.Template, variables: dict[str, Any]) -> str:
    """Render with `variables` used as the context as-is (they already hold the globals).

    Template.render would copy the environment globals (a ChainMap) into every context; for
    one step on hundreds of hosts that copy dominated the cost.
    """
    return "".join(template.root_render_func(template.new_context(variables, shared=True)))


# Results past these sizes are refused instead of exhausting memory (`'a' * 10**10`,
# `10 ** 10 ** 10`, `range(10**9) | list`), at run time and when Jinja folds constants while
# a runbook is only being validated.
MAX_REPEAT = 10_000_000
MAX_POWER_BITS = 100_000
MAX_RANGE = 1_000_000


def _repeat_size(left: Any, right: Any) -> int:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int):
            return len(seq) * times
    return 0


def _checked_binop(operator: str, left: Any, right: Any) -> Any:
    """`*` and `**` with a size limit; TemplateError (not MemoryError) past it."""
    if operator == "*" and _repeat_size(left, right) > MAX_REPEAT:
        raise TemplateError(f"'*' would build a value of {_repeat_size(left, right):,} items "
                            f"(the limit is {MAX_REPEAT:,})")
    if (operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0
            and abs(left) > 1 and left.bit_length() * right > MAX_POWER_BITS):
        raise TemplateError(f"{left} ** {right} is too large to compute")
    return _BINOPS[operator](left, right)


_BINOPS: dict[str, Any] = {"*": lambda a, b: a * b, "**": lambda a, b: a ** b}


def limited_range(*args: int) -> range:
    """`range` for templates, refusing more than MAX_RANGE items."""
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise TemplateError(f"range of {len(result):,} items is too large (the limit is "
                            f"{MAX_RANGE:,})")
    return result


# Stands for a carriage return while Jinja splits the source into lines: the lexer turns every
# CR, LF and CRLF into `newline_sequence` (no setting keeps them), which sent `secret('PW') + "\r"`
# as password + LF. A Unicode whitespace, so a CR between the words of a tag stays whitespace.
_CR_STAND_IN = "\u2029"


class CarriageReturnLexer(Lexer):
    """Jinja's lexer, except that the template text and string literals keep their CRs and CRLFs
    (a terminal tells Enter, `\\r`, from a line feed; Jinja would normalise both to LF)."""

    def tokeniter(self, source: str, *args: Any, **kwargs: Any) -> Any:
        """Tokens of `source` with each CR hidden from Jinja's line splitting (unless the source
        already holds the stand-in, then Jinja's own behaviour)."""
        if "\r" in source and _CR_STAND_IN not in source:
            source = source.replace("\r", _CR_STAND_IN)
        return super().tokeniter(source, *args, **kwargs)

    def _normalize_newlines(self, value: str) -> str:
        return super()._normalize_newlines(value).replace(_CR_STAND_IN, "\r")


class TemplateEnvironment(jinja2.Environment):
    """The environment of one `Templater` (it knows its templater for lazy variables).

    `sandboxed = True` only makes Jinja route `*` and `**` through `call_binop` (also while
    folding constants at compile time); nothing else of the sandbox is used.
    """

    templater: Compiler
    sandboxed = True
    intercepted_binops = frozenset({"*", "**"})
    intercepted_unops: frozenset[str] = frozenset()

    @property
    def lexer(self) -> Lexer:
        """The environment's `CarriageReturnLexer` (built once; the settings never change)."""
        lexer = self.__dict__.get("_cr_lexer")
        if lexer is None:
            lexer = self.__dict__["_cr_lexer"] = CarriageReturnLexer(self)
        return lexer

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """An intercepted binary operator (`*`, `**`), size-checked."""
        return _checked_binop(operator, left, right)

    def call(self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """A call in a template: what an unsandboxed environment does (`context.call`)."""
        return __context.call(__obj, *args, **kwargs)


def new_environment(templater: Compiler) -> TemplateEnvironment:
    """A fresh environment for `templater`: StrictUndefined, lazy variables, the size limits,
    the `quote` and `regex_escape` filters and a bounded `range` (the templater adds `secret`)."""
    env = TemplateEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              autoescape=False, finalize=_finalize)
    env.context_class = LazyContext
    env.templater = templater
    env.filters["quote"] = quote
    env.filters["regex_escape"] = regex_escape
    env.globals["range"] = limited_range
    return env
