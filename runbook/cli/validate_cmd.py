"""`runbook validate`, `runbook schema` and `runbook hosts`: the language commands.

Exit codes: 0 all valid / done; 1 a file is invalid (validate) or no host matches (hosts);
2 usage errors (missing file, bad -e, unknown schema, unreadable or invalid lab for `hosts`);
130 interrupted (Ctrl-C).
None of these import asyncssh.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from runbook.cli.exits import EXIT_FAILED, EXIT_OK, exit_130_on_interrupt, fail
from runbook.errors import ConfigError, RunbookError

if TYPE_CHECKING:
    from runbook.hosts.base import Host

_SUFFIXES = (".yml", ".yaml", ".json")


def _usage_error(message: str) -> NoReturn:
    fail(f"Error: {message}")


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; folders become their YAML/JSON files (recursively, sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*")
                                if p.suffix.lower() in _SUFFIXES and p.is_file()))
        else:
            files.append(path)
    return files


@click.command("validate")
@click.argument("files", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--lab", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Lab to check runbooks against (overrides the runbooks' own `lab`).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json prints machine-readable findings for CI.")
@click.option("-e", "--extra-vars", "extra_vars", multiple=True, metavar="KEY=VALUE|@FILE",
              help="Extra variable (repeatable), as `apply` will get it.")
@click.option("--tags", "tags", multiple=True, metavar="TAG[,TAG]",
              help="Tags `apply --tags` will get: each must be on some step (repeatable).")
@click.option("--skip-tags", "skip_tags", multiple=True, metavar="TAG[,TAG]",
              help="Tags `apply --skip-tags` will get: each must be on some step.")
@exit_130_on_interrupt
def validate_command(files: tuple[Path, ...], lab: Path | None, fmt: str,
                     extra_vars: tuple[str, ...], *, tags: tuple[str, ...] = (),
                     skip_tags: tuple[str, ...] = ()) -> None:
    """Check runbooks and labs (told apart by content: a runbook has `steps`).

    Prints every problem as FILE:LINE:COL: message, then a summary line, on stdout (as linters
    do); usage errors go to stderr. Folders are searched for .yml/.yaml/.json.
    With --lab and no FILES, checks the lab alone.

    \b
    Exit codes: 0 all valid, 1 a file is invalid, 2 usage error, 130 interrupted.
    """
    from runbook.language.validate import validate_files
    from runbook.language.varsfile import parse_extra_vars
    from runbook.plan.tags import split_tags

    try:
        extra = parse_extra_vars(extra_vars)
    except ConfigError as exc:
        _usage_error(str(exc))
    if not files and lab is None:
        _usage_error("give runbook or lab files to check (or --lab LAB to check a lab alone)")
    paths = _expand(files)
    if files and not paths:
        _usage_error("no .yml, .yaml or .json file found in the given folder(s)")
    try:
        report = validate_files(paths, lab=lab, extra_vars=extra,
                                tags=split_tags([*tags, *skip_tags]))
    except RunbookError as exc:  # should not happen: every problem is a finding
        _usage_error(str(exc))
    if fmt == "json":
        click.echo(report.to_json())
    else:
        for finding in report.findings:
            click.echo(str(finding))
        bad = report.invalid_files()
        if report.ok:
            click.echo(f"{len(report.files)} file(s) valid")
        else:
            click.echo(f"{len(report.findings)} problem(s) in {len(bad)} of "
                       f"{len(report.files)} file(s)")
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)


@click.command("schema")
@click.argument("name", required=False, default="runbook")
@exit_130_on_interrupt
def schema_command(name: str) -> None:
    """Print the JSON Schema NAME (runbook, lab or report) for editors and other tools."""
    from runbook.language.schema import schema_path

    try:
        path = schema_path(name)
    except ConfigError as exc:
        _usage_error(str(exc))
    click.echo(path.read_text(encoding="utf-8"), nl=False)


def host_row(host: Host) -> dict[str, Any]:
    """What `runbook hosts` shows of a host."""
    hop = getattr(host, "hop", None)
    power = host.power_control
    return {"id": host.id, "transport": getattr(host, "transport", "ssh"),
            "address": host.address, "port": host.port, "user": host.user,
            "hop": hop.id if hop is not None else None,
            "power": getattr(power, "type_name", type(power).__name__) if power else None}


@click.command("hosts")
@click.argument("pattern", required=False)
@click.option("--lab", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Lab file (default: just this machine, `local`).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@exit_130_on_interrupt
def hosts_command(pattern: str | None, lab: Path | None, fmt: str) -> None:
    """List the lab's hosts whose id matches PATTERN (a regex searched in ids).

    \b
    Exit codes: 0 hosts listed, 1 no host matches, 2 bad lab or pattern.
    """
    from runbook.hosts.lab import Lab

    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            _usage_error(f"invalid pattern {pattern!r}: {exc}")
    lab_obj = _read_lab(lab) if lab is not None else Lab.default()
    rows = [host_row(h) for h in lab_obj.select(pattern)]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif rows:
        _print_table(rows)
    if not rows:
        fail(f"no host matches {pattern!r}", EXIT_FAILED)


def _read_lab(path: Path) -> Any:
    """The lab at `path` without rendering secrets; exits 2 with findings when invalid."""
    from runbook.errors import YamlSyntaxError
    from runbook.language.findings import finding_from_error
    from runbook.language.labfile import read_lab
    from runbook.language.yamlload import load_file

    try:
        doc = load_file(path)
    except YamlSyntaxError as exc:
        _usage_error(str(finding_from_error(exc)))
    built, findings = read_lab(doc, path, secrets=None)
    findings = [finding_from_error(p) for p in doc.problems] + findings
    if findings or built is None:
        fail("\n".join(str(f) for f in findings))
    return built


def _print_table(rows: list[dict[str, Any]]) -> None:
    columns = ["id", "transport", "address", "port", "user", "hop", "power"]
    cells = [[("-" if r[c] is None else str(r[c])) for c in columns] for r in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns)
        for line in cells:
            table.add_row(*line)
        Console().print(table)
        return
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    for line in [[c.upper() for c in columns], *cells]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
