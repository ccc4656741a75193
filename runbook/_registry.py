"""A typed register of plugin classes by type name, fed by code, built-ins and entry points.

The power controllers' and the lock backends' registers are this one class with their own base
class, entry-point group and error type. Precedence: explicit `register()` calls, then
built-ins (`module:Class` strings imported on first use), then entry points of `group`, listed
on the first lookup of a name not otherwise known and imported only when their own name is
looked up, so one broken plugin does not break the others. The type dict lives on each
instance (tests make fresh ones), not on the class.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from runbook._suggest import did_you_mean

if TYPE_CHECKING:
    from importlib import metadata

    from runbook.errors import ConfigError

T = TypeVar("T")


class SpecErrorType(Protocol):
    """A ConfigError subclass taking a message and the offending `key` (PowerSpecError, ...)."""

    def __call__(self, message: str, /, *, key: str | None = None) -> ConfigError: ...


class Registry(Generic[T]):
    """Subclasses of `base` by type name; lookups fail with `error` (key 'type').

    `kind` names the plugins in messages ("power controller"); with `check_type_name`, a class
    must declare the `type_name` it is registered or published under. `base` is typed
    `type[Any]` because it is usually abstract (mypy refuses an abstract class as `type[T]`).
    """

    def __init__(self, *, base: type[Any], kind: str, group: str, builtins: Mapping[str, str],
                 error: SpecErrorType, check_type_name: bool = False) -> None:
        self.group = group
        self._base = base
        self._kind = kind
        self._error = error
        self._check_type_name = check_type_name
        self._classes: dict[str, type[T]] = {}
        self._builtins: dict[str, str] = dict(builtins)
        self._entry_points: dict[str, metadata.EntryPoint] | None = None

    def register(self, type_name: str, cls: type[T], *, overwrite: bool = False) -> None:
        """Register `cls` as `type_name`; refuses a taken name (or, where checked, a class
        whose `type_name` differs) unless `overwrite`."""
        if not (isinstance(cls, type) and issubclass(cls, self._base)):
            raise TypeError(f"{cls!r} is not a {self._base.__name__} subclass")
        if inspect.isabstract(cls):
            raise TypeError(f"{cls.__qualname__} does not implement "
                            f"{_abstract_methods(cls)}")
        declared = getattr(cls, "type_name", None)
        if self._check_type_name and declared != type_name and not overwrite:
            raise ValueError(f"cannot register {cls.__qualname__} as {type_name!r}: its "
                             f"type_name is {declared!r} (pass overwrite=True to force)")
        if (type_name in self._classes or type_name in self._builtins) and not overwrite:
            raise ValueError(f"{self._kind} type {type_name!r} is already registered "
                             "(pass overwrite=True to replace it)")
        self._classes[type_name] = cls
        self._builtins.pop(type_name, None)

    def names(self) -> list[str]:
        """Every known type name (registered, built-in, installed plugins), sorted."""
        return sorted({*self._classes, *self._builtins, *self._plugin_entry_points()})

    def get(self, type_name: str) -> type[T]:
        """The class registered as `type_name`, imported on first use."""
        cls = self._classes.get(type_name)
        if cls is not None:
            return cls
        target = self._builtins.get(type_name)
        what = f"built-in {self._kind} {type_name!r}"
        if target is None:
            entry_point = self._plugin_entry_points().get(type_name)
            if entry_point is None:
                raise self._error(self._unknown_message(type_name), key="type")
            target = entry_point.value
            dist = entry_point.dist.name if entry_point.dist is not None else "unknown"
            what = f"{self._kind} plugin {type_name!r} ({target}, distribution {dist!r})"
        cls = self._load_class(target, type_name, what)
        self._classes[type_name] = cls
        return cls

    def reload_plugins(self) -> None:
        """Forget the listed entry points so the next lookup scans the environment again."""
        self._entry_points = None

    def _plugin_entry_points(self) -> dict[str, metadata.EntryPoint]:
        if self._entry_points is None:
            # importlib.metadata costs ~15 ms to import: only paid when a plugin is looked up.
            from importlib import metadata

            found: dict[str, metadata.EntryPoint] = {}
            for entry_point in metadata.entry_points(group=self.group):
                found.setdefault(entry_point.name, entry_point)
            self._entry_points = found
        return self._entry_points

    def _unknown_message(self, type_name: str) -> str:
        names = self.names()
        suggestion = did_you_mean(type_name, names)
        hint = f"; {suggestion}" if suggestion else ""
        return (f"unknown {self._kind} type {type_name!r}{hint} (known types: "
                f"{', '.join(names)}; third-party types come from packages declaring the "
                f"entry-point group {self.group!r})")

    def _load_class(self, target: str, type_name: str, what: str) -> type[T]:
        """Import `module:Class` and check it is a complete `base` subclass for `type_name`."""
        module_name, _, attr = target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split(".") if attr else []:
                obj = getattr(obj, part)
        except Exception as exc:
            raise self._error(f"{what} could not be loaded: {type(exc).__name__}: {exc}",
                              key="type") from exc
        problem = self._problem(obj, type_name)
        if problem:
            raise self._error(f"{what} is broken: {target} {problem}", key="type")
        cls: type[T] = obj
        return cls

    def _problem(self, obj: Any, type_name: str) -> str | None:
        """Why `obj` cannot serve as `type_name`, or None when it can."""
        if not (isinstance(obj, type) and issubclass(obj, self._base)):
            return f"is not a {self._base.__name__} subclass"
        if inspect.isabstract(obj):
            return f"does not implement {_abstract_methods(obj)}"
        declared = getattr(obj, "type_name", None)
        if self._check_type_name and declared != type_name:
            return f"declares type_name {declared!r}"
        return None


def _abstract_methods(cls: type) -> str:
    """The methods `cls` leaves abstract, sorted, for a message."""
    return ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
