"""Checking a plugin's settings (a lab's YAML values) against its constructor's type hints.

Shared by the power-controller and lock-backend registries: `matches_hint` says whether a
value fits a hint, `hint_text` names a hint in a message, `is_sensitive` says which fields'
values a message must not show.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any


def is_sensitive(field: str) -> bool:
    """Fields whose values must not appear in messages (they are not masked: not secrets)."""
    return any(word in field.lower() for word in ("password", "secret", "token", "key"))


_SCALAR_CHECKS: dict[Any, Callable[[Any], bool]] = {
    bool: lambda v: isinstance(v, bool),
    float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
}


def matches_hint(value: Any, hint: Any) -> bool:
    """Whether `value` (plain YAML data) fits `hint`; unknown kinds of hints accept anything."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return True
    if hint is type(None) or hint is None:
        return value is None
    if origin in (types.UnionType, typing.Union):
        return any(matches_hint(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    scalar = _SCALAR_CHECKS.get(hint)
    if scalar is not None:
        return scalar(value)
    return _matches_container(value, hint, origin, args)


def _matches_container(value: Any, hint: Any, origin: Any, args: tuple[Any, ...]) -> bool:
    """Lists and tuples (with their item type), mappings; anything else is accepted."""
    if origin in (list, tuple) or hint in (list, tuple):
        return isinstance(value, list | tuple) and all(
            matches_hint(v, args[0]) for v in value) if args else isinstance(value, list | tuple)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True


def hint_text(hint: Any) -> str:
    """`str | None` -> 'a string or null' style text for messages."""
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             type(None): "null", list: "a list", dict: "a mapping"}
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(hint_text(arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin is not None:
        return names.get(origin, str(hint))
    return names.get(hint, getattr(hint, "__name__", str(hint)))
