"""The register of lock backend types and `lock_backend_from_spec`.

Like the power controllers' register (runbook.power.registry): built-ins (`file`, `redis`) are
imported when first used, third-party backends come from the entry-point group
`runbook.lock_backends` (entry point name = type name, value = `module:Class`), the type dict
lives on each `LockBackendRegistry` instance, and a lab's settings are checked against the
backend constructor's type hints before anything is built.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

# The hint matching is shared with the power register (one copy of that logic).
from runbook._settings import hint_text, is_sensitive, matches_hint
from runbook._suggest import did_you_mean
from runbook.errors import LockSpecError
from runbook.locks.base import LockBackend

if TYPE_CHECKING:
    from importlib import metadata

ENTRY_POINT_GROUP = "runbook.lock_backends"

BUILTIN_BACKENDS: dict[str, str] = {
    "file": "runbook.locks.file_backend:FileLockBackend",
    "redis": "runbook.locks.redis_backend:RedisLockBackend",
}


class LockBackendRegistry:
    """Lock backend classes by type name: registered, then built-in, then entry points."""

    def __init__(self, *, group: str = ENTRY_POINT_GROUP,
                 builtins: dict[str, str] | None = None) -> None:
        self.group = group
        self._classes: dict[str, type[LockBackend]] = {}
        self._builtins = dict(BUILTIN_BACKENDS if builtins is None else builtins)
        self._entry_points: dict[str, metadata.EntryPoint] | None = None

    def register(self, type_name: str, cls: type[LockBackend], *,
                 overwrite: bool = False) -> None:
        """Register `cls` as `type_name`; refuses a taken name unless `overwrite`."""
        if not (isinstance(cls, type) and issubclass(cls, LockBackend)):
            raise TypeError(f"{cls!r} is not a LockBackend subclass")
        if inspect.isabstract(cls):
            raise TypeError(f"{cls.__qualname__} does not implement "
                            f"{', '.join(sorted(cls.__abstractmethods__))}")
        if (type_name in self._classes or type_name in self._builtins) and not overwrite:
            raise ValueError(f"lock backend type {type_name!r} is already registered "
                             "(pass overwrite=True to replace it)")
        self._classes[type_name] = cls
        self._builtins.pop(type_name, None)

    def names(self) -> list[str]:
        """Every known type name, sorted."""
        return sorted({*self._classes, *self._builtins, *self._plugin_entry_points()})

    def get(self, type_name: str) -> type[LockBackend]:
        """The class registered as `type_name`; LockSpecError (key 'type') when unknown."""
        cls = self._classes.get(type_name)
        if cls is not None:
            return cls
        target = self._builtins.get(type_name)
        what = f"built-in lock backend {type_name!r}"
        if target is None:
            entry_point = self._plugin_entry_points().get(type_name)
            if entry_point is None:
                hint = did_you_mean(type_name, self.names())
                raise LockSpecError(
                    f"unknown lock backend type {type_name!r}" + (f"; {hint}" if hint else "")
                    + f" (known types: {', '.join(self.names())}; third-party types come from "
                    f"packages declaring the entry-point group {self.group!r})", key="type")
            target = entry_point.value
            dist = entry_point.dist.name if entry_point.dist is not None else "unknown"
            what = f"lock backend plugin {type_name!r} ({target}, distribution {dist!r})"
        cls = _load_class(target, what)
        self._classes[type_name] = cls
        return cls

    def _plugin_entry_points(self) -> dict[str, metadata.EntryPoint]:
        if self._entry_points is None:
            from importlib import metadata

            self._entry_points = {}
            for entry_point in metadata.entry_points(group=self.group):
                self._entry_points.setdefault(entry_point.name, entry_point)
        return self._entry_points


def _load_class(target: str, what: str) -> type[LockBackend]:
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split(".") if attr else []:
            obj = getattr(obj, part)
    except Exception as exc:
        raise LockSpecError(f"{what} could not be loaded: {type(exc).__name__}: {exc}",
                            key="type") from exc
    if not (isinstance(obj, type) and issubclass(obj, LockBackend)) or inspect.isabstract(obj):
        raise LockSpecError(f"{what} is broken: {target} is not a complete LockBackend "
                            "subclass", key="type")
    return obj


default_registry = LockBackendRegistry()


def lock_backend_from_spec(type_name: str, namespace: str, settings: dict[str, Any], *,
                           registry: LockBackendRegistry | None = None) -> LockBackend:
    """Build the backend `type_name` for `namespace` from the lab's other `lock:` settings,
    checked against its constructor (unknown, missing and mistyped fields: LockSpecError)."""
    cls = (registry or default_registry).get(type_name)
    params = {name: p for name, p in inspect.signature(cls).parameters.items()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name != "namespace"}
    for key in settings:
        if key not in params:
            hint = did_you_mean(str(key), params)
            raise LockSpecError(f"unknown setting for lock type {type_name!r}"
                                + (f"; {hint}" if hint else "")
                                + f" (settings: type, namespace, ttl, {', '.join(params)})",
                                key=str(key))
    missing = [n for n, p in params.items() if p.default is p.empty and n not in settings]
    if missing:
        raise LockSpecError(f"lock type {type_name!r} needs: {', '.join(missing)}")
    try:
        hints = inspect.get_annotations(cls.__init__, eval_str=True)
    except Exception:
        hints = {}
    for key, value in settings.items():
        hint = hints.get(key)
        if hint is not None and not matches_hint(value, hint):
            shown = "a value (not shown)" if is_sensitive(key) else repr(value)
            raise LockSpecError(f"must be {hint_text(hint)}, got {shown}", key=key)
    try:
        return cls(namespace, **settings)
    except LockSpecError:
        raise
    except Exception as exc:  # a plugin's bug must not become a traceback
        raise LockSpecError(f"lock type {type_name!r} could not be set up from these "
                            f"settings: {type(exc).__name__}: {exc}") from exc
