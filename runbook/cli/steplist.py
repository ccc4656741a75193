"""`runbook apply|plan --list-steps`: print the step tree, connect nothing, exit 0 (2 when
the runbook cannot be read)."""

from __future__ import annotations

from pathlib import Path

import click

from runbook.cli.exits import EXIT_OK, fail
from runbook.errors import ConfigError, ValidationError


def list_steps(path: Path) -> int:
    """Print the step tree of the runbook at `path`; exit code."""
    from runbook.language.runbookfile import load_runbook
    from runbook.plan.listing import step_tree_lines

    try:
        book = load_runbook(path)
    except ValidationError as exc:
        fail("\n".join(map(str, exc.findings)))
    except ConfigError as exc:
        fail(str(exc))
    click.echo(f"{book.name}: {len(book.steps)} step(s)")
    for line in step_tree_lines(book):
        click.echo(f"  {line}")
    return EXIT_OK
