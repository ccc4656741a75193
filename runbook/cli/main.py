"""`runbook` entry point: a click group whose subcommands are imported only when invoked.

Lazy loading keeps `runbook --help` and `runbook validate` fast and free of asyncssh.
Each subcommand lives in its own module under `runbook.cli` and exposes a click command.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# name -> (module, attribute, one-line help shown by `runbook --help` without importing it)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "apply": ("runbook.cli.apply_cmd", "apply_command", "Run a runbook across the lab."),
    "plan": ("runbook.cli.apply_cmd", "plan_command", "Show what a runbook would do (no connecting)."),
    "validate": ("runbook.cli.validate_cmd", "validate_command", "Check runbooks and labs."),
    "schema": ("runbook.cli.validate_cmd", "schema_command", "Print a JSON Schema (runbook, lab, report)."),
    "hosts": ("runbook.cli.validate_cmd", "hosts_command", "List the hosts of a lab."),
    "persist": ("runbook.cli.persist_cmd", "persist_command",
                "Show or stop the keeper of warm SSH connections."),
    "power": ("runbook.cli.power_cmd", "power_command", "Power hosts on / off / cycle, or show status."),
    "runs": ("runbook.cli.runs_cmd", "runs_command", "List recorded runs (.runbook/runs)."),
    "show": ("runbook.cli.runs_cmd", "show_command", "Show a recorded run, a host or a step of it."),
    "resume": ("runbook.cli.resume_cmd", "resume_command", "Continue a run that was cut short."),
    "lock": ("runbook.cli.lock_cmd", "lock_command", "Reserve lab hosts for a while (--for 2h)."),
    "unlock": ("runbook.cli.lock_cmd", "unlock_command", "Release your reservations (--force: anyone's)."),
    "locks": ("runbook.cli.lock_cmd", "locks_command", "Show who holds which lab host."),
    "who": ("runbook.cli.lock_cmd", "locks_command", "Same as `runbook locks`."),
    "sites": ("runbook.cli.sites_cmd", "sites_command", "List a lab's sites and their workers."),
    "worker": ("runbook.cli.sites_cmd", "worker_command", "Drive a site's hosts (Celery worker)."),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SUBCOMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="runbook")
def cli() -> None:
    """runbook: declarative runbooks for lab automation.

    \b
    Exit codes: 0 success; 1 a host failed or was unreachable, or a file is invalid
    (validate); 2 invalid input or usage; 3 hosts locked by someone else, or the run lost
    its lock; 130 interrupted.
    """


def main(*args: Any, **kwargs: Any) -> Any:
    """Console-script entry point."""
    return cli(*args, **kwargs)
