"""`runbook apply` and `runbook plan`: load, validate, compile, execute (or show), report.

The thin layer between click and the engine: it turns library errors into messages and exit
codes (0 ok, 1 a host failed or was unreachable, 2 invalid input or usage, 3 hosts locked by
someone else or the lock lost, 130 interrupted), installs the SIGINT/SIGTERM/SIGHUP handlers
that cancel the run, holds the lab locks around it (`cli.locking.run_locked`), and always
writes the reports.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from runbook._dataclass import mutable
from runbook.cli.applyrecord import start_record, write_reports
from runbook.cli.exits import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_USAGE,
    fail,
)
from runbook.cli.locking import lock_options, locks_refused, run_locked
from runbook.cli.params import FolderPath
from runbook.cli.reportpaths import reports_problem
from runbook.cli.restart import plan_restart
from runbook.cli.signals import (
    INTERRUPT_GRACE,
    INTERRUPT_SIGNALS,
    hold_signals_until_exit,
    interrupts_raise,
    run_interruptible,
)
from runbook.errors import ConfigError, LockError, LockSpecError, RunbookError, ValidationError
from runbook.records.runfolder import DEFAULT_KEEP_RUNS

if TYPE_CHECKING:
    from runbook.cli.console import Console
    from runbook.cli.restart import Restart
    from runbook.engine.results import RunOutcome
    from runbook.engine.runner import Runner
    from runbook.plan.compiler import Plan
    from runbook.records import RunRecorder
    from runbook.records.progress import RunProgress
    from runbook.render.secrets import SecretStore
    from runbook.sites.controller import SiteRun


@mutable
class Options:
    """Everything `apply` and `plan` take from the command line."""

    runbook: Path
    lab: Path | None
    limit: str | None
    extra_vars: Sequence[str]
    forks: int | None
    check: bool
    fail_fast: bool
    secrets: Path | None
    report_json: Path | None
    junit: Path | None
    report_html: Path | None
    verbose: int
    # run records (apply only; docs/records.md)
    runs_dir: Path | None = None
    no_record: bool = False
    keep_runs: int = DEFAULT_KEEP_RUNS
    # lab locks (apply only; docs/locks.md)
    lock_wait: float = 0.0
    no_lock: bool = False
    # multi-site labs (apply only; docs/sites.md)
    site_timeout: float | None = None
    # step selection (docs/language.md)
    tags: Sequence[str] = ()
    skip_tags: Sequence[str] = ()
    start_at_step: str | None = None
    list_steps: bool = False
    output_limit: int | None = None
    # starting part-way (docs/records.md): rerun the failed hosts of a run, or resume one
    rerun_failed: str | None = None
    force: bool = False
    resume: RunProgress | None = None
    # warm re-runs (apply only; docs/persist.md): keep SSH connections this many seconds
    persist: float | None = None


def _findings_text(findings: Sequence[object]) -> str:
    """One `FILE:LINE:COL: message` line per finding, as `runbook validate` prints them."""
    return "\n".join(map(str, findings))


def _config_error(exc: ConfigError, mask: Callable[[str], str] = str) -> NoReturn:
    fail(_findings_text(exc.findings) if isinstance(exc, ValidationError) and exc.findings
         else str(exc), mask=mask)


def prepare(opts: Options) -> tuple[Runner, Console, Callable[[str], str]]:
    """Load, validate and compile (`runbook.api`); exits 2 with FILE:LINE:COL messages on any
    bad input."""
    from runbook import api
    from runbook.cli.console import Console
    from runbook.cli.gctuning import tune_gc
    from runbook.language.varsfile import parse_extra_vars
    from runbook.plan.tags import split_tags
    from runbook.render.secrets import SecretStore

    check_report_paths(opts)
    try:
        secrets = SecretStore(secrets_file=opts.secrets)
    except ConfigError as exc:
        _config_error(exc)
    mask = secrets.mask
    try:
        extra = parse_extra_vars(list(opts.extra_vars))
        runbook, lab = api.load(opts.runbook, lab=opts.lab, secrets=secrets)
        persist = opts.persist if opts.persist is not None else lab.persist
        if persist is not None and not opts.check:
            api.keep_connections(lab, persist)
        findings = api.check(runbook, lab, extra_vars=extra)
        if findings:
            fail(_findings_text(findings), mask=mask)
        plan = api.compile(runbook, lab, secrets=secrets, extra_vars=extra, limit=opts.limit,
                           fail_fast=opts.fail_fast, dry_run=opts.check,
                           tags=split_tags(opts.tags), skip_tags=split_tags(opts.skip_tags),
                           start_at=opts.start_at_step, output_limit=opts.output_limit)
    except ConfigError as exc:
        _config_error(exc, mask)
    except RunbookError as exc:
        fail(str(exc), mask=mask)
    if opts.limit is not None and not plan.hosts:
        fail(f"--limit {opts.limit!r} matches no host the runbook targets", mask=mask)
    tune_gc()  # after loading: what start-up made is frozen, not scanned again
    console = Console(verbose=opts.verbose, mask=mask)
    runner = None if opts.check else _site_runner(plan, secrets, console, extra, opts)
    executor = runner or api.executor(plan, subscribers=[console], forks=opts.forks, mask=mask)
    for note in [] if opts.check else api.open_files_notes(plan, opts.forks):
        console.note(note)  # what the open-files limit bounds, and how to raise it
    return executor, console, mask


def _report_options(opts: Options) -> dict[str, Path | None]:
    return {"--report-json": opts.report_json, "--junit": opts.junit,
            "--report-html": opts.report_html}


def check_report_paths(opts: Options) -> None:
    """Exit 2 before anything runs if a report could not be written or two share a file."""
    problem = reports_problem(_report_options(opts), _inputs(opts))
    if problem:
        fail(problem)


def _site_runner(plan: Plan, secrets: SecretStore, console: Console, extra: dict[str, Any],
                 opts: Options) -> SiteRun | None:
    """The multi-site runner when a targeted host has a `site` (docs/sites.md); exits 2 when
    the broker does not answer (URL masked) or the sites extra is missing."""
    from runbook import api

    try:
        return api.site_executor(plan, secrets=secrets, subscribers=[console], forks=opts.forks,
                                 mask=secrets.mask, extra_vars=extra,
                                 site_timeout=opts.site_timeout)
    except RunbookError as exc:
        fail(str(exc), mask=secrets.mask)


def _inputs(opts: Options) -> dict[Path, str]:
    """Files the run reads, by resolved path: a report must never overwrite one of them."""
    named = {opts.runbook: "the runbook", opts.lab: "the lab", opts.secrets: "the secrets file"}
    named.update({Path(v[1:]): "an -e file" for v in opts.extra_vars if v.startswith("@")})
    return {path.resolve(): what for path, what in named.items() if path is not None}


def exit_code(outcome: RunOutcome) -> int:
    """0 success, 1 failed, 130 interrupted; a dry run with template errors is invalid input."""
    from runbook.engine.results import RunStatus

    if outcome.status is RunStatus.INTERRUPTED:
        return EXIT_INTERRUPTED
    if outcome.locks and outcome.locks.get("lost"):
        return EXIT_LOCKED
    if outcome.status is RunStatus.SUCCESS:
        return EXIT_OK
    return EXIT_USAGE if outcome.check else EXIT_FAILED


async def _run(executor: Runner, console: Console, opts: Options, *,
               recorder: RunRecorder | None, restart: Restart | None) -> None:
    """Run the executor; SIGINT/SIGTERM/SIGHUP cancel it, a second signal exits at once."""

    def force_exit(reason: str) -> None:
        console.note(f"{reason}: exiting now, without waiting for the hosts to close")
        outcome = executor.abandon()
        if restart is not None:
            restart.merge(outcome)
        write_reports(outcome, opts, console.mask, recorder)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)

    cleanup = executor.cleanup_budget()  # `always` steps still to run after a signal
    await run_interruptible(
        run_locked(executor, console, lock_wait=opts.lock_wait, no_lock=opts.no_lock),
        on_signal=lambda name: console.note(
            f"{name}: stopping" + (", running the `always` steps" if cleanup else "")
            + ", closing hosts (again to exit at once)"),
        force_exit=force_exit, then=_defer_signal, grace=INTERRUPT_GRACE + cleanup)


def _defer_signal(signum: int, frame: object) -> None:
    """Signals while the reports are written: they take milliseconds, so finish them; the
    exit code already says whether the run was interrupted."""


def run_apply(opts: Options) -> NoReturn:
    """The whole `apply` (or `plan`) command; never returns, exits with the documented code.

    Signals are handled from the first line to the last (runbook.cli.signals): SIGTERM while
    loading exits 130 like Ctrl-C; during the run the first signal cancels it and a second
    exits at once; once the run has ended a signal no longer interrupts writing the reports,
    and from the moment the exit code is decided signals stay pending until exit.
    """
    with interrupts_raise():
        code = _apply(opts)
        hold_signals_until_exit()
    sys.exit(code)


def _apply(opts: Options) -> int:
    if opts.list_steps:
        from runbook.cli.steplist import list_steps

        return list_steps(opts.runbook)
    try:
        executor, console, mask = prepare(opts)
        restart = plan_restart(opts, executor)
        recorder = start_record(opts, executor, restart)
    except KeyboardInterrupt:  # Ctrl-C while loading: nothing ran, nothing to report
        fail("interrupted", EXIT_INTERRUPTED)
    if opts.check:
        outcome = executor.check()
        write_reports(outcome, opts, mask)
        return exit_code(outcome)
    return _execute(executor, console, opts, mask, recorder=recorder, restart=restart)


def _execute(executor: Runner, console: Console, opts: Options, mask: Callable[[str], str], *,
             recorder: RunRecorder | None, restart: Restart | None) -> int:
    """The real run: its exit status, with the reports written whatever happened."""
    code = EXIT_FAILED
    try:
        asyncio.run(_run(executor, console, opts, recorder=recorder, restart=restart))
        code = exit_code(executor.outcome)
    except KeyboardInterrupt:  # a signal before the loop's handlers were installed
        code = EXIT_INTERRUPTED
    except (LockError, LockSpecError) as exc:
        code = locks_refused(executor.outcome, exc, mask)
    except Exception as exc:  # an engine bug: still report what happened, and say so
        detail = executor.outcome.error or f"{type(exc).__name__}: {exc}"
        click.echo(mask(f"runbook: internal error: {detail}"), err=True)
        if opts.verbose:
            import traceback

            traceback.print_exc()
        code = EXIT_FAILED
    finally:
        for sig in INTERRUPT_SIGNALS:
            signal.signal(sig, _defer_signal)
        code = _report(executor, opts, mask, code, recorder=recorder, restart=restart)
    return code


def _report(executor: Runner, opts: Options, mask: Callable[[str], str], code: int, *,
            recorder: RunRecorder | None, restart: Restart | None) -> int:
    """Write the reports (a restarted run's merged with the earlier run's first); the exit
    code, which then judges every host's final state."""
    if restart is not None:
        restart.merge(executor.outcome)
        if code in (EXIT_OK, EXIT_FAILED) and executor.outcome.error is None:
            code = exit_code(executor.outcome)
    if not write_reports(executor.outcome, opts, mask, recorder) and code == EXIT_OK:
        code = EXIT_FAILED
    sys.stdout.flush()
    return code


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    path = click.Path(dir_okay=False, path_type=Path)
    options = [
        click.argument("runbook", type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        click.option("--lab", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Lab file (overrides the runbook's `lab:`; default: local host only)."),
        click.option("--limit", metavar="REGEX",
                     help="Only hosts whose id this regex is found in."),
        click.option("-e", "--extra-vars", "extra_vars", multiple=True, metavar="KEY=VALUE|@FILE",
                     help="Extra variables (highest precedence); repeatable."),
        click.option("--secrets", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="YAML file of secrets (NAME: value)."),
        click.option("--report-json", type=path, help="Write the JSON report here."),
        click.option("--junit", type=path, help="Write a JUnit XML report here."),
        click.option("--report-html", type=path,
                     help="Write a self-contained HTML report (step x host grid) here."),
        click.option("-v", "--verbose", count=True, help="Show every command's output."),
        click.option("--tags", multiple=True, metavar="TAG[,TAG]",
                     help="Only steps with one of these tags (and `always` ones); repeatable."),
        click.option("--skip-tags", multiple=True, metavar="TAG[,TAG]",
                     help="Leave out steps with one of these tags; repeatable."),
        click.option("--start-at-step", metavar="NAME",
                     help="Start at the first step with this name (or path, see --list-steps)."),
        click.option("--list-steps", is_flag=True,
                     help="Print the step tree (names, tags, file:line) and exit; connects "
                          "nothing."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _persist_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A keeper's idle time: 10m, 90s, 1h (at most 24h); a bad one is a usage error."""
    from runbook.persist import persist_seconds

    if value is None:
        return None
    try:
        return persist_seconds(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _size_option(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """A byte size: 65536, 64k, 1m (runbook.model.parse_size); a bad one is a usage error."""
    from runbook.model import parse_size

    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


@click.command("apply")
@_common
@click.option("--forks", type=click.IntRange(min=1), default=None,
              help="Hosts worked on at once per step (default 500, clamped by open-file limit).")
@click.option("--check", is_flag=True, help="Dry run: show what would run; connect nothing.")
@click.option("--fail-fast", is_flag=True, help="Stop everything at the first failure.")
@click.option("--runs-dir", type=FolderPath(), default=None,
              help="Record the run under DIR (default: $RUNBOOK_RUNS_DIR or .runbook/runs).")
@click.option("--no-record", is_flag=True, help="Do not record the run in a run folder.")
@click.option("--keep-runs", type=click.IntRange(min=1), default=DEFAULT_KEEP_RUNS,
              show_default=True,
              metavar="N", help="Keep the newest N run folders; older ones are removed.")
@lock_options
@click.option("--site-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS", help="Multi-site labs: fail a site's hosts as unreachable when no "
              "worker takes its share within this time (default 30).")
@click.option("--rerun-failed", "rerun_failed", metavar="RUN", default=None,
              help="Only the hosts that did not finish ok in RUN (id, prefix, `last`), each "
                   "from the step where it stopped; the report merges RUN's results.")
@click.option("--force", is_flag=True,
              help="With --rerun-failed: go on even if the runbook changed since RUN.")
@click.option("--output-limit", callback=_size_option, default=None, metavar="SIZE",
              help="Bytes of each command's output kept from its start and its end, for steps "
                   "without their own output_limit (default 64k; 1m, 0 = everything).")
@click.option("--persist", callback=_persist_option, default=None, metavar="DURATION",
              help="Keep the SSH connections for the next runs within DURATION (10m, 1h): a "
                   "background keeper of yours holds them (`runbook persist`; default: the "
                   "lab's defaults.persist, else off).")
def apply_command(**kwargs: Any) -> None:
    """Run RUNBOOK across the lab.

    \b
    Exit codes: 0 all hosts ok; 1 a host failed or was unreachable;
    2 invalid input or usage; 3 hosts locked by someone else (after --lock-wait),
    or the run lost its lock; 130 interrupted (Ctrl-C / SIGTERM / SIGHUP).
    """
    run_apply(Options(**kwargs))


@click.command("plan")
@_common
def plan_command(**kwargs: Any) -> None:
    """Show what RUNBOOK would do per step and host, without connecting (= apply --check).

    \b
    Exit codes: 0 the plan is valid; 2 invalid input (or a template fails for a host).
    """
    run_apply(Options(forks=None, check=True, fail_fast=False, **kwargs))
