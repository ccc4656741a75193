"""A lab's `lock:` block as data: which backend, which namespace, how long a lease lasts."""

from __future__ import annotations

import re
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from runbook._dataclass import frozen
from runbook.errors import LockSpecError

if TYPE_CHECKING:
    from runbook.locks.base import LockBackend
    from runbook.locks.registry import LockBackendRegistry

DEFAULT_TYPE = "file"
DEFAULT_TTL = 60.0
_NAMESPACE = re.compile(r"[A-Za-z0-9._@-]+")


@frozen
class LockConfig:
    """`type`, `namespace` and `ttl` of a lab's locks plus the backend's own `settings`.

    `missing_secrets` names secrets the settings use that are not set: the lab still loads
    (validate, `runbook hosts`), but nothing can be locked until they are.
    """

    type: str = DEFAULT_TYPE
    namespace: str = "default"
    ttl: float = DEFAULT_TTL
    settings: dict[str, Any] = field(default_factory=dict)
    missing_secrets: tuple[str, ...] = ()

    def backend(self, registry: LockBackendRegistry | None = None) -> LockBackend:
        """Build the backend (does not connect)."""
        from runbook.locks.registry import lock_backend_from_spec

        return lock_backend_from_spec(self.type, self.namespace, self.settings,
                                      registry=registry)


def default_namespace(lab_path: Path | None) -> str:
    """The lab file's name without its suffix (`rack3.yml` -> `rack3`), made filename-safe."""
    stem = lab_path.stem if lab_path is not None else "default"
    return "".join(c if _NAMESPACE.fullmatch(c) else "_" for c in stem) or "default"


def lock_config_from_block(block: dict[str, Any] | None, lab_path: Path | None,
                           missing_secrets: tuple[str, ...] = ()) -> LockConfig:
    """Check a (schema-checked, rendered) `lock:` mapping and build its backend once, so an
    unknown type, a bad URL or a misspelled setting is reported when the lab is read."""
    block = dict(block or {})
    type_name = block.pop("type", DEFAULT_TYPE)
    namespace = block.pop("namespace", None) or default_namespace(lab_path)
    if not _NAMESPACE.fullmatch(namespace):
        raise LockSpecError(f"namespace {namespace!r} may only use letters, digits and . _ - @",
                            key="namespace")
    ttl = block.pop("ttl", DEFAULT_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
        raise LockSpecError(f"ttl must be a number of seconds > 0, not {ttl!r}", key="ttl")
    config = LockConfig(type_name, namespace, float(ttl), block, missing_secrets)
    config.backend()
    return config


class LockedLab(Protocol):
    """What the locks need of a lab (`runbook.hosts.lab.Lab` is one): its file and its
    `lock:` settings. A protocol, so that locks never import the hosts layer back."""

    @property
    def path(self) -> Path | None: ...

    @property
    def lock(self) -> LockConfig | None: ...


def lab_lock_config(lab: LockedLab) -> LockConfig:
    """The lab's `lock:` settings (a lab built in code: file locks, namespace 'default');
    LockSpecError when a secret they need is not set."""
    config = lab.lock if lab.lock is not None else LockConfig(namespace=default_namespace(lab.path))
    if config.missing_secrets:
        names = ", ".join(config.missing_secrets)
        raise LockSpecError(f"the lab's lock: settings need secret(s) {names}, which are not "
                            f"set: export RUNBOOK_SECRET_<NAME> or pass --secrets FILE")
    return config
