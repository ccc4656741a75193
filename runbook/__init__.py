"""runbook: a declarative runbook engine for lab automation.

The library API: hosts (`LocalHost`, `RemoteHost`) with `run` / `oneshot` / `put` / `get`,
results (`Status`, `CommandStatus`, `RunResult`), `Lab` and the fan-out helpers, the error tree;
`runbook.api` runs whole runbooks (load → check → compile → run).

The package is the pipeline read → render → plan → execute → report (docs/architecture.md):
`language/` reads runbook and lab files into `model` objects and findings, `render/` owns
templating and secrets, `plan/` compiles a runbook against a lab into typed concrete actions
(data), `engine/` runs a plan across `hosts/` (with `power/` controllers) and reports through
events, `report/` writes JSON, JUnit and HTML, `records/` keeps run folders, `locks/` holds
leases on lab hosts, `sites/` spreads a run over site workers, `persist/` keeps SSH
connections warm between runs in a per-user keeper; `cli/` is the click layer on top.
`errors.py` holds every error class, `results.py` the one status vocabulary.

Names are resolved on first use (PEP 562), so `import runbook` (and every CLI command, which
imports this package first) costs almost nothing; asyncssh loads only when a host connects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbook._lazyimport import lazy_exports

if TYPE_CHECKING:
    from runbook.errors import (
        BecomeError,
        BrokerError,
        CommandTimeoutError,
        ConfigError,
        HostUnreachableError,
        KeeperError,
        LockBackendError,
        LockError,
        LockLostError,
        LocksHeldError,
        LockSpecError,
        MissingSecretError,
        PowerError,
        PowerSpecError,
        RedfishHttpError,
        RegexTimeoutError,
        RunbookError,
        RunNotFoundError,
        RunRecordError,
        TemplateError,
        TemplateRenderError,
        ValidationError,
        WaitTimeoutError,
        YamlSyntaxError,
    )
    from runbook.hosts.base import Host
    from runbook.hosts.fanout import do_for_all_hosts, run_on_all_hosts
    from runbook.hosts.lab import Lab
    from runbook.hosts.local import LocalHost
    from runbook.hosts.ssh import RemoteHost
    from runbook.results import CommandStatus, RunResult, Status

_EXPORTS: dict[str, str] = {
    "BecomeError": "runbook.errors",
    "BrokerError": "runbook.errors",
    "CommandStatus": "runbook.results",
    "CommandTimeoutError": "runbook.errors",
    "ConfigError": "runbook.errors",
    "Host": "runbook.hosts.base",
    "HostUnreachableError": "runbook.errors",
    "KeeperError": "runbook.errors",
    "Lab": "runbook.hosts.lab",
    "LocalHost": "runbook.hosts.local",
    "LockBackendError": "runbook.errors",
    "LockError": "runbook.errors",
    "LockLostError": "runbook.errors",
    "LockSpecError": "runbook.errors",
    "LocksHeldError": "runbook.errors",
    "MissingSecretError": "runbook.errors",
    "PowerError": "runbook.errors",
    "PowerSpecError": "runbook.errors",
    "RedfishHttpError": "runbook.errors",
    "RegexTimeoutError": "runbook.errors",
    "RemoteHost": "runbook.hosts.ssh",
    "RunNotFoundError": "runbook.errors",
    "RunRecordError": "runbook.errors",
    "RunResult": "runbook.results",
    "RunbookError": "runbook.errors",
    "Status": "runbook.results",
    "TemplateError": "runbook.errors",
    "TemplateRenderError": "runbook.errors",
    "ValidationError": "runbook.errors",
    "WaitTimeoutError": "runbook.errors",
    "YamlSyntaxError": "runbook.errors",
    "do_for_all_hosts": "runbook.hosts.fanout",
    "run_on_all_hosts": "runbook.hosts.fanout",
}

__all__ = [
    "BecomeError",
    "BrokerError",
    "CommandStatus",
    "CommandTimeoutError",
    "ConfigError",
    "Host",
    "HostUnreachableError",
    "KeeperError",
    "Lab",
    "LocalHost",
    "LockBackendError",
    "LockError",
    "LockLostError",
    "LockSpecError",
    "LocksHeldError",
    "MissingSecretError",
    "PowerError",
    "PowerSpecError",
    "RedfishHttpError",
    "RegexTimeoutError",
    "RemoteHost",
    "RunNotFoundError",
    "RunRecordError",
    "RunResult",
    "RunbookError",
    "Status",
    "TemplateError",
    "TemplateRenderError",
    "ValidationError",
    "WaitTimeoutError",
    "YamlSyntaxError",
    "do_for_all_hosts",
    "run_on_all_hosts",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
