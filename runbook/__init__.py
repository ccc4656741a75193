"""runbook: a declarative runbook engine for lab automation.

The library API: hosts (`LocalHost`, `RemoteHost`) with `run` / `oneshot` / `put` / `get`,
results (`Status`, `CommandStatus`, `RunResult`), `Lab` and the fan-out helpers, the error tree.
Importing runbook does not import asyncssh; it is loaded when a host first connects.
"""

from runbook.errors import (
    CommandTimeoutError,
    ConfigError,
    HostUnreachableError,
    PowerError,
    RunbookError,
    TemplateError,
)
from runbook.fanout import do_for_all_hosts, run_on_all_hosts
from runbook.hosts.base import Host
from runbook.hosts.local import LocalHost
from runbook.hosts.ssh import RemoteHost
from runbook.lab import Lab
from runbook.results import CommandStatus, RunResult, Status

__all__ = [
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
    "do_for_all_hosts",
    "run_on_all_hosts",
]
