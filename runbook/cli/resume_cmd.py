"""`runbook resume RUN`: continue a run that was cut short (interrupted by Ctrl-C / SIGTERM /
SIGHUP, killed, crashed, machine lost) from its journal, in its own run folder
(docs/records.md).

Exit codes as `apply` (0 every host ok, 1 a host failed, 2 the run cannot be resumed: it
completed, is still running, its runbook changed without --force; 130 interrupted).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from runbook.cli.exits import fail
from runbook.cli.params import FolderPath

#: Default --lock-wait of resume: a killed run still holds its hosts' leases until they lapse
#: (the lab's lock ttl, 60 s unless set), so resume waits for them rather than exiting 3.
RESUME_LOCK_WAIT = 120.0


@click.command("resume")
@click.argument("run")
@click.option("--runs-dir", type=FolderPath(), default=None,
              help="Where runs are recorded (default: $RUNBOOK_RUNS_DIR or .runbook/runs).")
@click.option("--force", is_flag=True, help="Go on even if the runbook changed since RUN.")
@click.option("--lock-wait", type=click.FloatRange(min=0, max=7 * 24 * 3600),
              default=RESUME_LOCK_WAIT, metavar="SECONDS", show_default=True,
              help="Wait this long for locked hosts (the killed run's leases lapse after the "
                   "lab's lock ttl), then exit 3 naming them.")
@click.option("--no-lock", is_flag=True, help="Break-glass: take no lab locks.")
@click.option("-v", "--verbose", count=True, help="Show every command's output.")
def resume_command(run: str, *, runs_dir: Path | None, force: bool, lock_wait: float,
                   no_lock: bool, verbose: int) -> None:
    """Continue RUN (an id, a unique prefix, `last` or a folder) where it was cut short:
    interrupted (Ctrl-C, SIGTERM, SIGHUP), killed or crashed.

    Each host goes on from the first step it has no result for, with the values it
    registered before; no step is repeated on a host that finished it (a step that was
    running when the run was cut short runs again). The run's own options
    (lab, -e, --limit, ...) are used again, from its working folder.

    \b
    Exit codes: 0 all hosts ok; 1 a host failed or was unreachable; 2 RUN cannot be
    resumed (it completed: use --rerun-failed; it is still running; its runbook changed
    without --force); 3 hosts locked; 130 interrupted.
    """
    from runbook.cli.apply_cmd import Options, run_apply
    from runbook.cli.restart import load_progress, resumable, resume_options
    from runbook.records import resolve_runs_dir
    from runbook.records.runfolder import DEFAULT_KEEP_RUNS, RunFolder

    earlier = load_progress(run, resolve_runs_dir(runs_dir))
    earlier.folder = RunFolder(earlier.folder.path.resolve())
    resumable(earlier)
    options = resume_options(earlier)
    cwd = options.get("cwd")
    if cwd:
        try:
            os.chdir(cwd)
        except OSError as exc:
            fail(f"run {earlier.run_id} ran in {cwd}, which is gone ({exc.strerror}): its "
                 "relative paths cannot be found")
    lab, secrets = options.get("lab"), options.get("secrets")
    run_apply(Options(
        runbook=Path(options["runbook"]), lab=Path(lab) if lab else None,
        limit=options.get("limit"), extra_vars=list(options["extra_vars"]),
        forks=options.get("forks"), check=False, fail_fast=bool(options.get("fail_fast")),
        secrets=Path(secrets) if secrets else None, report_json=None, junit=None,
        report_html=None, verbose=verbose,
        keep_runs=int(options.get("keep_runs") or DEFAULT_KEEP_RUNS),
        output_limit=options.get("output_limit"), force=force, resume=earlier,
        lock_wait=lock_wait, no_lock=no_lock, tags=list(options.get("tags") or ()),
        skip_tags=list(options.get("skip_tags") or ()),
        start_at_step=options.get("start_at_step")))
