"""The `--lab` option of the commands that read a lab without a runbook (`power`, `lock`,
`unlock`, `locks`) and how they find the lab file: `--lab`, else `$RUNBOOK_LAB`, else
lab.yml / lab.yaml in the current folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from runbook.cli.exits import fail

LAB_ENV = "RUNBOOK_LAB"
DEFAULT_LAB_FILES = ("lab.yml", "lab.yaml")


def lab_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--lab FILE` (keyword argument `lab_path`), also read from $RUNBOOK_LAB."""
    return click.option("--lab", "lab_path", type=click.Path(path_type=Path, dir_okay=False),
                        envvar=LAB_ENV, show_envvar=True,
                        help="Lab file. Default: $RUNBOOK_LAB, else lab.yml or lab.yaml here.",
                        )(func)


def find_lab_file(lab_path: Path | None, command: str) -> Path:
    """The lab file to read; exits 2, naming `command` (`runbook COMMAND: ...`), when
    `lab_path` is not a readable file or, without it, no default lab file is here."""
    if lab_path is not None:
        from runbook.language.yamlload import not_a_regular_file

        problem = not_a_regular_file(lab_path)
        if problem is not None:
            problem = "does not exist" if problem.startswith("no such file") else problem
            fail(f"runbook {command}: lab file {lab_path} {problem}"
                 + (f" (from ${LAB_ENV})" if os.environ.get(LAB_ENV) == str(lab_path) else ""))
        return lab_path
    found = next((Path(n) for n in DEFAULT_LAB_FILES if Path(n).is_file()), None)
    if found is None:
        fail(f"runbook {command}: no lab: pass --lab FILE, set ${LAB_ENV}, or run where "
             "lab.yml is")
    return found
