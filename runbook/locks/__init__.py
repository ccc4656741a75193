"""Lab locks: leases on hosts so two runs (or a run and a person) never drive the same
hardware at once. See docs/locks.md.

Importing this package is cheap (`runbook validate` reads `lock:` blocks): its names are
imported from their modules on first use, the redis client only when a lab uses redis, and
third-party backends (entry-point group `runbook.lock_backends`) only when named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbook._lazyimport import lazy_exports

if TYPE_CHECKING:
    from runbook.locks.base import (
        MANUAL,
        ForcedRelease,
        Holder,
        HostLock,
        LockBackend,
        format_time,
    )
    from runbook.locks.config import (
        DEFAULT_TTL,
        LockConfig,
        default_namespace,
        lab_lock_config,
        lock_config_from_block,
    )
    from runbook.locks.lease import (
        HeldLocks,
        acquire_waiting,
        held_message,
        hold_lab_locks,
        hold_locks,
        make_holder,
        new_run_id,
        whoami,
    )
    from runbook.locks.registry import (
        ENTRY_POINT_GROUP,
        LockBackendRegistry,
        default_registry,
        lock_backend_from_spec,
    )

_WHERE = {
    "base": ("MANUAL", "ForcedRelease", "Holder", "HostLock", "LockBackend", "format_time"),
    "config": ("DEFAULT_TTL", "LockConfig", "default_namespace", "lab_lock_config",
               "lock_config_from_block"),
    "lease": ("HeldLocks", "acquire_waiting", "held_message", "hold_lab_locks", "hold_locks",
              "make_holder", "new_run_id", "whoami"),
    "registry": ("ENTRY_POINT_GROUP", "LockBackendRegistry", "default_registry",
                 "lock_backend_from_spec"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "DEFAULT_TTL",
    "ENTRY_POINT_GROUP",
    "MANUAL",
    "ForcedRelease",
    "HeldLocks",
    "Holder",
    "HostLock",
    "LockBackend",
    "LockBackendRegistry",
    "LockConfig",
    "acquire_waiting",
    "default_namespace",
    "default_registry",
    "format_time",
    "held_message",
    "hold_lab_locks",
    "hold_locks",
    "lab_lock_config",
    "lock_backend_from_spec",
    "lock_config_from_block",
    "make_holder",
    "new_run_id",
    "whoami",
]


__getattr__ = lazy_exports(
    __name__, {name: f"runbook.locks.{module}" for name, module in _MODULE_OF.items()},
    globals())[0]
