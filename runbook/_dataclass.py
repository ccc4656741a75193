"""Dataclasses that cost one compiled method to create instead of six.

A frozen dataclass gets `__init__`, `__repr__`, `__eq__`, `__hash__`, `__setattr__` and
`__delattr__` written as source text, and Python 3.11 compiles each with its own `exec`:
about 0.6 ms per class on a 2-core CI machine, 35-60 ms for the 65 classes `runbook apply`
builds before it connects, a third of its start-up lead over a plain asyncssh script
(docs/performance.md, "wave 2 session 9").

`@frozen` and `@mutable` (attrs' names) keep dataclasses' field processing and compile one
method, `__init__` (dataclasses' own for a mutable class; for a frozen one the text
dataclasses would write, fields set with `object.__setattr__`); the others are closures over
the class's fields, which behave as dataclasses' do:

- `repr` shows the fields declared with `repr=True` (a `repr=False` password stays out);
- `==` compares the fields declared with `compare=True`, between instances of one class;
- a frozen class hashes those fields; a mutable one is unhashable, as with `eq=True`;
- a frozen class refuses to assign or delete an attribute, raising
  `dataclasses.FrozenInstanceError` (`__post_init__` may still use `object.__setattr__`);
  pickle and copy restore a frozen slotted instance past that guard, as dataclasses do.

A frozen class with an InitVar, KW_ONLY, kw_only or init=False field is left to
dataclasses whole (none here).

`dataclasses.fields`, `replace`, `asdict` and `is_dataclass` work as before, and static
checkers see a dataclass (PEP 681's `dataclass_transform`, `@frozen` ones frozen). Two
differences, neither used here: `__dataclass_params__` records what dataclasses were asked
for (no frozen, repr or eq), and mixing frozen and mutable classes in one hierarchy is not
refused as dataclasses refuse it.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")


@overload
def frozen(cls: type[T], /) -> type[T]: ...


@overload
def frozen(*, slots: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen(cls: type[T] | None = None, /, *,
           slots: bool = False) -> type[T] | Callable[[type[T]], type[T]]:
    """`@dataclass(frozen=True)`, built cheaply: `@frozen` or `@frozen(slots=True)`."""
    return _decorate(cls, frozen=True, slots=slots)


@overload
def mutable(cls: type[T], /) -> type[T]: ...


@overload
def mutable(*, slots: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(dataclasses.field,))
def mutable(cls: type[T] | None = None, /, *,
            slots: bool = False) -> type[T] | Callable[[type[T]], type[T]]:
    """`@dataclass`, built cheaply: `@mutable` or `@mutable(slots=True)`."""
    return _decorate(cls, frozen=False, slots=slots)


def _decorate(cls: type[T] | None, *, frozen: bool,
              slots: bool) -> type[T] | Callable[[type[T]], type[T]]:
    """The class made a dataclass now, or the decorator that will (`@frozen(slots=True)`)."""

    def build(target: type[T]) -> type[T]:
        if frozen:
            if not _plain_fields(target):  # an InitVar, kw_only or init=False field
                return dataclasses.dataclass(target, frozen=True, slots=slots)
            made: Any = dataclasses.dataclass(target, init=False, repr=False, eq=False,
                                              slots=slots)
            fields = dataclasses.fields(made)
            _install(made, "__init__", _frozen_init_of(made, fields))
            _install(made, "__hash__", _hash_of(fields))
            refuse_set, refuse_delete = _frozen_guards_of(made, fields)
            _install(made, "__setattr__", refuse_set)
            _install(made, "__delattr__", refuse_delete)
            if slots:  # pickle and copy restore slots with setattr, which is refused now
                _install(made, "__getstate__", _slot_values)
                _install(made, "__setstate__", _restore_slots)
        else:
            made = dataclasses.dataclass(target, repr=False, eq=False, slots=slots)
            made.__hash__ = None  # mutable and compared: unhashable, as with eq=True
            fields = dataclasses.fields(made)
        _install(made, "__repr__", _repr_of(fields))
        _install(made, "__eq__", _eq_of(fields))
        return made  # type: ignore[no-any-return]

    return build if cls is None else build(cls)


def _plain_fields(cls: type) -> bool:
    """Whether every field of `cls` (read before dataclasses take the class body apart) will
    be a plain `__init__` parameter: no InitVar, KW_ONLY or kw_only, no init=False."""
    declared: list[tuple[Any, Any]] = [
        (f.type, f) for base in cls.__mro__[1:]
        for f in getattr(base, "__dataclass_fields__", {}).values()]
    declared += [(kind, cls.__dict__.get(name))
                 for name, kind in inspect.get_annotations(cls).items()]
    for kind, value in declared:
        if "InitVar" in str(kind) or "KW_ONLY" in str(kind):
            return False
        if isinstance(value, dataclasses.Field) and (not value.init or value.kw_only is True):
            return False
    return True


def _frozen_init_of(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    """The frozen `__init__` dataclasses would write (fields set with `object.__setattr__`,
    defaults, default factories, `__post_init__`), compiled with one `exec`."""
    scope: dict[str, Any] = {"__name__": cls.__module__, "_set": object.__setattr__,
                             "_NO_VALUE": _NO_VALUE}
    params, lines = [], []
    for f in fields:
        value = f.name
        if f.default is not dataclasses.MISSING:
            scope[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_NO_VALUE")
            value = f"_factory_{f.name}() if {f.name} is _NO_VALUE else {f.name}"
        elif params and "=" in params[-1]:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        else:
            params.append(f.name)
        lines.append(f"_set(_self, {f.name!r}, {value})")
    if hasattr(cls, "__post_init__"):
        lines.append("_self.__post_init__()")
    text = f"def __init__(_self, {', '.join(params)}):\n    " + "\n    ".join(lines or ["pass"])
    made: dict[str, Any] = {}
    exec(text, scope, made)  # our own text, as dataclasses compile theirs
    init: Callable[..., None] = made["__init__"]
    init.__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    return init


class _NoValue:
    """The default of a parameter whose field has a default factory: none was given."""

    def __repr__(self) -> str:
        return "<factory>"


_NO_VALUE = _NoValue()


def _install(cls: type, name: str, method: Callable[..., Any]) -> None:
    """Set `method` on `cls` unless the class body wrote its own (dataclasses do the same)."""
    if name in cls.__dict__ and not (name == "__hash__" and cls.__dict__[name] is None):
        return
    method.__name__ = name
    method.__qualname__ = f"{cls.__qualname__}.{name}"
    setattr(cls, name, method)


def _values_of(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A fast getter of the named attributes as a tuple (attrgetter's, for any count)."""
    if not names:
        return lambda _obj: ()
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return attrgetter(*names)


def _repr_of(fields: tuple[dataclasses.Field[Any], ...]) -> Callable[[Any], str]:
    names = tuple(f.name for f in fields if f.repr)

    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__qualname__}({shown})"

    return __repr__


def _eq_of(fields: tuple[dataclasses.Field[Any], ...]) -> Callable[[Any, object], bool]:
    values = _values_of(tuple(f.name for f in fields if f.compare))

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return values(self) == values(other)

    return __eq__


def _hash_of(fields: tuple[dataclasses.Field[Any], ...]) -> Callable[[Any], int]:
    hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
    values = _values_of(hashed)

    def __hash__(self: Any) -> int:
        return hash(values(self))

    return __hash__


def _frozen_guards_of(cls: type, fields: tuple[dataclasses.Field[Any], ...]
                     ) -> tuple[Callable[[Any, str, Any], None], Callable[[Any, str], None]]:
    """Frozen dataclasses' `__setattr__` and `__delattr__`: no field of any instance, nothing
    on the class's own instances (a subclass that is not frozen may add attributes)."""
    names = frozenset(f.name for f in fields)

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)  # type: ignore[arg-type]

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)  # type: ignore[arg-type]

    return __setattr__, __delattr__


def _slot_values(self: Any) -> list[Any]:
    """A frozen slotted instance's state for pickle and copy: its fields' values in order."""
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _restore_slots(self: Any, state: list[Any]) -> None:
    """Set a frozen slotted instance's fields from `_slot_values`' list, past the guard."""
    for f, value in zip(dataclasses.fields(self), state, strict=True):
        object.__setattr__(self, f.name, value)
