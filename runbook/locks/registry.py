"""The register of lock backend types and `lock_backend_from_spec`.

The same generic register as the power controllers' (runbook._registry.Registry): built-ins
(`file`, `redis`) are imported when first used, third-party backends come from the entry-point
group `runbook.lock_backends` (entry point name = type name, value = `module:Class`), the type
dict lives on each `LockBackendRegistry` instance, and a lab's settings are checked against the
backend constructor's type hints before anything is built.
"""

from __future__ import annotations

import inspect
from typing import Any

from runbook._registry import Registry
from runbook._settings import hint_text, is_sensitive, matches_hint
from runbook._suggest import did_you_mean
from runbook.errors import LockSpecError
from runbook.locks.base import LockBackend

ENTRY_POINT_GROUP = "runbook.lock_backends"

BUILTIN_BACKENDS: dict[str, str] = {
    "file": "runbook.locks.file_backend:FileLockBackend",
    "redis": "runbook.locks.redis_backend:RedisLockBackend",
}


class LockBackendRegistry(Registry[LockBackend]):
    """Lock backend classes by type name: registered, then built-in, then entry points."""

    def __init__(self, *, group: str = ENTRY_POINT_GROUP,
                 builtins: dict[str, str] | None = None) -> None:
        super().__init__(base=LockBackend, kind="lock backend", group=group,
                         builtins=BUILTIN_BACKENDS if builtins is None else builtins,
                         error=LockSpecError)


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
