"""`runbook apply` and `runbook plan`: load, validate, compile, execute (or show), report.

The thin layer between click and the engine: it turns library errors into messages and exit
codes (0 ok, 1 a host failed or was unreachable, 2 invalid input or usage, 130 interrupted),
installs the SIGINT/SIGTERM handlers that cancel the run, and always writes the reports.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from runbook.cli.signals import (
    INTERRUPT_SIGNALS,
    hold_signals_until_exit,
    interrupts_raise,
    run_interruptible,
)
from runbook.errors import ConfigError, RunbookError

if TYPE_CHECKING:
    from runbook.cli.console import Console
    from runbook.engine.executor import Executor
    from runbook.engine.results import RunOutcome
    from runbook.language.findings import Finding

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
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
    verbose: int


def _fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def _findings_text(findings: Sequence[Finding]) -> str:
    """One `FILE:LINE:COL: message` line per finding, as `runbook validate` prints them."""
    return "\n".join(map(str, findings))


def _config_error(exc: ConfigError) -> NoReturn:
    findings = getattr(exc, "findings", None)
    _fail(_findings_text(findings) if findings else str(exc))


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one (fan-out needs fds); return the soft."""
    try:
        import resource
    except ImportError:  # not POSIX
        return 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def prepare(opts: Options) -> tuple[Executor, Console, Callable[[str], str]]:
    """Load, validate and compile; exits 2 with FILE:LINE:COL messages on any bad input."""
    from runbook.cli.console import Console
    from runbook.cli.gctuning import tune_gc
    from runbook.engine.events import EventBus
    from runbook.engine.executor import Executor, choose_forks
    from runbook.hosts.lab import Lab
    from runbook.language.labfile import load_lab
    from runbook.language.runbookfile import load_runbook
    from runbook.language.validate import check_runbook
    from runbook.language.varsfile import parse_extra_vars
    from runbook.plan.compiler import compile_plan
    from runbook.render.secrets import SecretStore
    from runbook.render.templating import Templater

    for report in (opts.report_json, opts.junit):
        if report is not None and (problem := report_path_problem(report, _inputs(opts))):
            _fail(f"cannot write report {report}: {problem}")
    if opts.report_json is not None and opts.junit is not None and \
            opts.report_json.resolve() == opts.junit.resolve():
        _fail(f"--report-json and --junit both name {opts.junit}: give them different files")
    try:
        secrets = SecretStore(secrets_file=opts.secrets)
        extra = parse_extra_vars(list(opts.extra_vars))
        runbook = load_runbook(opts.runbook)
        lab_path = opts.lab if opts.lab is not None else runbook.lab
        lab = load_lab(lab_path, secrets=secrets) if lab_path is not None else Lab.default()
        findings = check_runbook(runbook, lab, extra_vars=extra)
        if findings:
            _fail(_findings_text(findings))
        templater = Templater(secrets)
        plan = compile_plan(runbook, lab, templater, extra_vars=extra, limit=opts.limit,
                            fail_fast=opts.fail_fast, dry_run=opts.check)
    except ConfigError as exc:
        _config_error(exc)
    except RunbookError as exc:
        _fail(str(exc))
    if opts.limit is not None and not plan.hosts:
        _fail(f"--limit {opts.limit!r} matches no host the runbook targets")
    forks = choose_forks(opts.forks, raise_fd_limit())
    tune_gc()  # after loading: what start-up made is frozen, not scanned again
    console = Console(verbose=opts.verbose, mask=secrets.mask)
    executor = Executor(plan, forks=forks, bus=EventBus([console]), mask=secrets.mask)
    return executor, console, secrets.mask


def _inputs(opts: Options) -> dict[Path, str]:
    """Files the run reads, by resolved path: a report must never overwrite one of them."""
    named = {opts.runbook: "the runbook", opts.lab: "the lab", opts.secrets: "the secrets file"}
    named.update({Path(v[1:]): "an -e file" for v in opts.extra_vars if v.startswith("@")})
    return {path.resolve(): what for path, what in named.items() if path is not None}


def report_path_problem(path: Path, inputs: dict[Path, str] | None = None) -> str | None:
    """Why a report could not be written at `path`, checked before anything runs; else None.

    Missing parent folders are created (CI artifact folders often are); the file is opened
    for appending, a real test even as root, and removed again if it did not exist. A path
    that is one of the run's input files is refused: the report would overwrite it.
    """
    if path.is_dir():
        return "it is a folder; give a file name"
    if inputs and (what := inputs.get(path.resolve())):
        return f"it is {what}, which the report would overwrite"
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            break
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
        if not existed:
            path.unlink()
    except OSError as exc:
        return f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
    return None


def write_reports(outcome: RunOutcome, opts: Options) -> bool:
    """Write the requested reports; False (after saying why on stderr) if one could not be."""
    from runbook.report import write_json_report, write_junit

    ok = True
    for path, writer in ((opts.report_json, write_json_report), (opts.junit, write_junit)):
        if path is None:
            continue
        try:
            writer(outcome, path)
        except OSError as exc:
            click.echo(f"cannot write report {path}: {exc.strerror or exc}", err=True)
            ok = False
    return ok


def exit_code(outcome: RunOutcome) -> int:
    """0 success, 1 failed, 130 interrupted; a dry run with template errors is invalid input."""
    from runbook.engine.results import RunStatus

    if outcome.status is RunStatus.INTERRUPTED:
        return EXIT_INTERRUPTED
    if outcome.status is RunStatus.SUCCESS:
        return EXIT_OK
    return EXIT_INVALID if outcome.check else EXIT_FAILED


async def _run(executor: Executor, console: Console, opts: Options) -> None:
    """Run the executor; SIGINT/SIGTERM cancel it, a second signal exits at once."""

    def force_exit(reason: str) -> None:
        console.note(f"{reason}: exiting now, without waiting for the hosts to close")
        write_reports(executor.abandon(), opts)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)

    await run_interruptible(
        executor.run(),
        on_signal=lambda name: console.note(
            f"{name}: stopping, closing hosts (again to exit at once)"),
        force_exit=force_exit, then=_defer_signal)  # cleanup bound: signals.INTERRUPT_GRACE


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
    try:
        executor, console, _mask = prepare(opts)
    except KeyboardInterrupt:  # Ctrl-C while loading: nothing ran, nothing to report
        _fail("interrupted", EXIT_INTERRUPTED)
    if opts.check:
        outcome = executor.check()
        write_reports(outcome, opts)
        return exit_code(outcome)
    code = EXIT_FAILED
    try:
        asyncio.run(_run(executor, console, opts))
        code = exit_code(executor.outcome)
    except KeyboardInterrupt:  # a signal before the loop's handlers were installed
        code = EXIT_INTERRUPTED
    except Exception as exc:  # an engine bug: still report what happened, and say so
        detail = executor.outcome.error or f"{type(exc).__name__}: {exc}"
        click.echo(f"runbook: internal error: {detail}", err=True)
        if opts.verbose:
            import traceback

            traceback.print_exc()
        code = EXIT_FAILED
    finally:
        for sig in INTERRUPT_SIGNALS:
            signal.signal(sig, _defer_signal)
        if not write_reports(executor.outcome, opts) and code == EXIT_OK:
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
        click.option("-v", "--verbose", count=True, help="Show every command's output."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command("apply")
@_common
@click.option("--forks", type=click.IntRange(min=1), default=None,
              help="Hosts worked on at once per step (default 500, clamped by open-file limit).")
@click.option("--check", is_flag=True, help="Dry run: show what would run; connect nothing.")
@click.option("--fail-fast", is_flag=True, help="Stop everything at the first failure.")
def apply_command(**kwargs: Any) -> None:
    """Run RUNBOOK across the lab.

    \b
    Exit codes: 0 all hosts ok; 1 a host failed or was unreachable;
    2 invalid input or usage; 130 interrupted (Ctrl-C / SIGTERM).
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
