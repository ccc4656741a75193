"""The `runbook` entry point: `runbook --help` answered without importing click.

click (with inspect, uuid, datetime) is most of what `runbook --help` costs over `python -c
pass`: 35-70 ms here, against a budget of 40 ms. The top-level help is static, so it is kept
here as text, byte for byte what click prints for a terminal at least 80 columns wide (a test
compares the two); anything else, a narrower terminal included, goes to the click group in
`runbook.cli.main`. Add a subcommand there and the test shows the new text to paste here.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

#: Subcommands that load the engine (and asyncssh): see `engine_main`.
ENGINE_COMMANDS = frozenset({"apply", "plan", "resume"})

#: click's top-level help after the "Usage:" line (click formats at most 80 columns wide).
HELP_BODY = """\

  runbook: declarative runbooks for lab automation.

  Exit codes: 0 success; 1 a host failed or was unreachable, or a file is invalid
  (validate); 2 invalid input or usage; 3 hosts locked by someone else, or the run lost
  its lock; 130 interrupted.

Options:
  --version   Show the version and exit.
  -h, --help  Show this message and exit.

Commands:
  apply     Run a runbook across the lab.
  hosts     List the hosts of a lab.
  lock      Reserve lab hosts for a while (--for 2h).
  locks     Show who holds which lab host.
  persist   Show or stop the keeper of warm SSH connections.
  plan      Show what a runbook would do (no connecting).
  power     Power hosts on / off / cycle, or show status.
  resume    Continue a run that was cut short.
  runs      List recorded runs (.runbook/runs).
  schema    Print a JSON Schema (runbook, lab, report).
  show      Show a recorded run, a host or a step of it.
  sites     List a lab's sites and their workers.
  unlock    Release your reservations (--force: anyone's).
  validate  Check runbooks and labs.
  who       Same as `runbook locks`.
  worker    Drive a site's hosts (Celery worker).
"""


def program_name() -> str:
    """The program name as click shows it: `runbook`, or `python -m runbook`."""
    main_module = sys.modules["__main__"]
    path = sys.argv[0]
    package = getattr(main_module, "__package__", None)
    if package in (None, ""):
        return Path(path).name
    name = Path(path).stem
    module = package if name == "__main__" else f"{package}.{name}"
    return f"python -m {module.lstrip('.')}"


def fast_help(args: list[str]) -> bool:
    """Print the top-level help if that is all `args` ask for; False to let click decide."""
    if args not in (["--help"], ["-h"]) or shutil.get_terminal_size().columns < 80:
        return False
    sys.stdout.write(f"Usage: {program_name()} [OPTIONS] COMMAND [ARGS]...\n{HELP_BODY}")
    sys.stdout.flush()
    return True


def main(*args: Any, **kwargs: Any) -> Any:
    """Console-script entry point (`runbook`, `python -m runbook`)."""
    if not args and not kwargs:
        if fast_help(sys.argv[1:]):
            return 0
        if sys.argv[1:2] and sys.argv[1] in ENGINE_COMMANDS:
            engine_main()
    from runbook.cli.main import main as click_main

    return click_main(*args, **kwargs)


def engine_main() -> None:
    """An engine command, with the process-wide settings that only pay off for a whole
    process: fewer collections from the start (runbook.cli.gctuning), no interpreter teardown
    at the end (runbook.cli.fastexit). Returns only when a normal exit must happen instead."""
    from runbook.cli.gctuning import pause_gc

    pause_gc()  # before the imports: they make objects that stay until exit
    from runbook.cli.fastexit import exit_now
    from runbook.cli.main import main as click_main

    try:
        click_main()
    except SystemExit as done:
        exit_now(done.code)
        raise
