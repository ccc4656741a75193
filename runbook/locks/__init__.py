"""Lab locks: leases on hosts so two runs (or a run and a person) never drive the same
hardware at once. See docs/locks.md.

Importing this package is cheap: the redis client is imported only when a lab uses it, and
third-party backends (entry-point group `runbook.lock_backends`) only when named.
"""

from runbook.locks.base import MANUAL, ForcedRelease, Holder, HostLock, LockBackend, format_time
from runbook.locks.config import DEFAULT_TTL, LockConfig, default_namespace, lock_config_from_block
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
    "lock_backend_from_spec",
    "lock_config_from_block",
    "make_holder",
    "new_run_id",
    "whoami",
]
