"""runbook: a declarative runbook engine for lab automation.

The library API: hosts (`LocalHost`, `RemoteHost`) with `run` / `oneshot` / `put` / `get`,
results (`Status`, `CommandStatus`, `RunResult`), `Lab` and the fan-out helpers, the error tree.

Names are resolved on first use (PEP 562), so `import runbook` (and every CLI command, which
imports this package first) costs almost nothing; asyncssh loads only when a host connects.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runbook.errors import (
        BecomeError,
        CommandTimeoutError,
        ConfigError,
        HostUnreachableError,
        PowerError,
        RunbookError,
        TemplateError,
        WaitTimeoutError,
    )
    from runbook.fanout import do_for_all_hosts, run_on_all_hosts
    from runbook.hosts.base import Host
    from runbook.hosts.local import LocalHost
    from runbook.hosts.ssh import RemoteHost
    from runbook.lab import Lab
    from runbook.results import CommandStatus, RunResult, Status

_EXPORTS: dict[str, str] = {
    "BecomeError": "runbook.errors",
    "CommandStatus": "runbook.results",
    "CommandTimeoutError": "runbook.errors",
    "ConfigError": "runbook.errors",
    "Host": "runbook.hosts.base",
    "HostUnreachableError": "runbook.errors",
    "Lab": "runbook.lab",
    "LocalHost": "runbook.hosts.local",
    "PowerError": "runbook.errors",
    "RemoteHost": "runbook.hosts.ssh",
    "RunResult": "runbook.results",
    "RunbookError": "runbook.errors",
    "Status": "runbook.results",
    "TemplateError": "runbook.errors",
    "WaitTimeoutError": "runbook.errors",
    "do_for_all_hosts": "runbook.fanout",
    "run_on_all_hosts": "runbook.fanout",
}

__all__ = [
    "BecomeError",
    "CommandStatus",
    "CommandTimeoutError",
    "ConfigError",
    "Host",
    "HostUnreachableError",
    "Lab",
    "LocalHost",
    "PowerError",
    "RemoteHost",
    "RunResult",
    "RunbookError",
    "Status",
    "TemplateError",
    "WaitTimeoutError",
    "do_for_all_hosts",
    "run_on_all_hosts",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runbook' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
