"""What an `apply` run leaves behind: its run folder (a new one, or the resumed run's own)
and the reports asked for, written whatever happened (docs/records.md, docs/apply.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import click

from runbook.cli.exits import fail
from runbook.cli.restart import StartOptions, recorded_options

if TYPE_CHECKING:
    from pathlib import Path

    from runbook.cli.restart import Restart
    from runbook.engine.results import RunOutcome
    from runbook.engine.runner import Runner
    from runbook.records import RunRecorder

__all__ = ["RecordOptions", "start_record", "write_reports"]


class RecordOptions(StartOptions, Protocol):
    """The `apply` options read here (`apply_cmd.Options` has them)."""

    no_record: bool
    extra_vars: Sequence[str]
    report_json: Path | None
    junit: Path | None
    report_html: Path | None


def start_record(opts: RecordOptions, executor: Runner,
                 restart: Restart | None = None) -> RunRecorder | None:
    """Create the run folder and journal the run's events into it (None: --no-record, --check);
    a resumed run records into its own folder again.

    Exits 2 before anything runs when the folder cannot be created.
    """
    if opts.no_record or opts.check:
        return None
    from runbook.errors import RunRecordError
    from runbook.records import RunRecorder, resolve_runs_dir

    try:
        if restart is not None and restart.resume:
            recorder = RunRecorder.resume(executor, restart.folder, keep=opts.keep_runs)
            click.echo(f"run {recorder.run_id}: resuming in {recorder.folder.path}")
            return recorder
        recorder = RunRecorder.start(
            executor, resolve_runs_dir(opts.runs_dir), keep=opts.keep_runs,
            extra_vars=opts.extra_vars, options=recorded_options(opts),
            repairs=None if restart is None else restart.earlier.run_id)
    except RunRecordError as exc:
        fail(executor.mask(f"{exc}; choose another folder with --runs-dir (or "
                           "RUNBOOK_RUNS_DIR), or run with --no-record"))
    click.echo(f"run {recorder.run_id}: recording in {recorder.folder.path}")
    return recorder


def write_reports(outcome: RunOutcome, opts: RecordOptions, mask: Callable[[str], str] = str,
                  recorder: RunRecorder | None = None) -> bool:
    """Write the requested reports, masked, (and the run folder's); False, after saying why on
    stderr, if one could not be."""
    from runbook.report import write_html_report, write_json_report, write_junit

    ok = True
    for path, writer in ((opts.report_json, write_json_report), (opts.junit, write_junit),
                         (opts.report_html, write_html_report)):
        if path is None:
            continue
        try:
            writer(outcome, path, mask)
        except OSError as exc:
            click.echo(mask(f"cannot write report {path}: {exc.strerror or exc}"), err=True)
            ok = False
    if recorder is not None:
        problems = recorder.finish(outcome)
        for problem in problems:
            click.echo(mask(f"run record: {problem}"), err=True)
        click.echo(f"run {recorder.run_id} recorded in {recorder.folder.path}")
        ok = ok and not problems
    return ok
