"""`apply --rerun-failed RUN` and `runbook resume RUN`: start a run part-way (docs/records.md).

Both read where each host of RUN stopped (`records.progress`), refuse a runbook whose content
changed since RUN unless `--force` (exit 2, naming what changed), narrow the executor to the
hosts and steps left (`engine.restart`; a multi-site run's sites get their hosts' start
points in their tasks) and, at the end, merge RUN's results into the new
report (`records.merge`). A rerun records a new run that names the one it repairs; a resume
continues RUN's own folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click

from runbook._dataclass import mutable
from runbook.cli.exits import EXIT_OK, fail
from runbook.errors import RunNotFoundError
from runbook.records.runfolder import step_number

if TYPE_CHECKING:
    from runbook.engine.executor import Executor
    from runbook.engine.results import RunOutcome
    from runbook.engine.runner import Runner
    from runbook.records.progress import RunProgress
    from runbook.records.runfolder import RunFolder
    from runbook.sites.controller import SiteRun


class StartOptions(Protocol):
    """The `apply` options this module reads (`apply_cmd.Options` has them)."""

    limit: str | None
    forks: int | None
    fail_fast: bool
    output_limit: int | None
    secrets: Path | None
    keep_runs: int
    check: bool
    force: bool
    runs_dir: Path | None
    rerun_failed: str | None
    resume: RunProgress | None
    tags: Sequence[str]
    skip_tags: Sequence[str]
    start_at_step: str | None


@mutable
class Restart:
    """A run that starts part-way: the earlier run and whether this one continues it."""

    earlier: RunProgress
    resume: bool
    executor: Executor | SiteRun | None = None

    @property
    def folder(self) -> RunFolder:
        return self.earlier.folder

    def merge(self, outcome: RunOutcome) -> None:
        """Put the earlier run's results into `outcome` where this run has none (and mark
        the earlier failures this run's rescues recovered)."""
        from runbook.engine.executor import Executor
        from runbook.records.merge import merge_earlier

        marker = None if self.executor is None else (
            self.executor.tracker if isinstance(self.executor, Executor)
            else self.executor.merger)
        merge_earlier(outcome, self.earlier,
                      None if marker is None else lambda o: marker.mark_all_rescued(o.steps))
        failed = sum(1 for h in outcome.hosts if any(
            not r.status.is_ok and not r.ignored and not r.rescued
            for s in outcome.steps if (r := s.results.get(h)) is not None))
        click.echo(f"with run {self.earlier.run_id}'s results: {len(outcome.hosts) - failed} "
                   f"host(s) ok, {failed} not ok in the end")
        if self.resume:
            outcome.started = float(self.earlier.start.get("started") or outcome.started)
        else:
            outcome.repairs = self.earlier.run_id


def load_progress(spec: str, runs_dir: Path) -> RunProgress:
    """The recorded run `spec` names, read back; exit 2 when there is none or no journal."""
    from runbook.records import find_run
    from runbook.records.progress import RunProgress

    try:
        folder = find_run(spec, runs_dir)
        return RunProgress.load(folder)
    except RunNotFoundError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"run {spec!r} has no readable journal.jsonl ({exc.strerror or exc}): it cannot "
             "be rerun or resumed")


def check_unchanged(earlier: RunProgress, executor: Executor | SiteRun, *, force: bool) -> None:
    """Exit 2 when the runbook's content changed since `earlier`, unless `force`."""
    from runbook.records.recorder import file_sha256

    plan = executor.plan
    steps = [{"name": p.step.name, "action": p.step.action.kind} for p in plan.steps]
    changes = earlier.changes(file_sha256(Path(plan.runbook.path)), steps)
    if changes and not force:
        lines = "\n".join(f"  {c}" for c in changes)
        fail(f"the runbook {plan.runbook.path} changed since run {earlier.run_id}:\n{lines}\n"
             "steps are matched by position; run with --force to go on anyway")
    if changes:
        click.echo(f"runbook changed since run {earlier.run_id} (--force): "
                   + "; ".join(changes))


def _targets(executor: Executor | SiteRun) -> list[tuple[str, list[str]]]:
    from runbook.records.runfolder import step_path

    return [(step_path(p.step.index), [h.id for h in p.targets]) for p in executor.plan.steps]


def _narrow(executor: Executor | SiteRun, earlier: RunProgress,
            starts: dict[str, str]) -> None:
    """Start each host of `starts` at its step, with what it had done and registered before
    (loop items, block failures) and the earlier run's hosts to cut batches from; a
    multi-site run ships each site its hosts' points."""
    from runbook.engine.executor import Executor
    from runbook.engine.restart import RestartPoints
    from runbook.records.runfolder import step_path

    order = [step for step, _ in _targets(executor)]
    points = RestartPoints(
        starts,
        registered={h: earlier.registered_before(h, order, s) for h, s in starts.items()},
        failures={h: earlier.failures_before(h, order, s) for h, s in starts.items()},
        items={h: earlier.items.get(h, {}) for h in starts},
        # out of the run for good (a resume): they count for a batch's max_failed
        dropped={h: "failed before" for h in earlier.failed_hosts() if h not in starts},
        batch_hosts=list(dict.fromkeys([*earlier.hosts, *(h.id for h in executor.plan.hosts)])))
    _note_masked(points.registered)
    if isinstance(executor, Executor):
        points.apply(executor, step_path)
    else:
        executor.start_part_way(points, step_path)


def _note_masked(registered: Mapping[str, Mapping[str, Any]]) -> None:
    """Say which restored values held a secret: they come back masked (`***`), whether this
    machine or a site's worker drives the host (no secret travels to a worker)."""
    for host, values in registered.items():
        masked = sorted(name for name, value in values.items()
                        if "***" in json.dumps(value, default=str))
        if masked:
            click.echo(f"{host}: registered {', '.join(masked)} held a secret when recorded: "
                       "restored masked (***)")


def plan_rerun(spec: str, runs_dir: Path, executor: Executor | SiteRun, *,
               force: bool) -> Restart:
    """Narrow `executor` to RUN's hosts that did not finish ok; exit 0 when there are none."""
    earlier = load_progress(spec, runs_dir)
    check_unchanged(earlier, executor, force=force)
    starts = earlier.repair_points(_targets(executor))
    if not starts:
        click.echo(f"run {earlier.run_id}: nothing to repair, every host finished ok")
        raise SystemExit(EXIT_OK)
    where = ", ".join(f"{h} from step {step_number(p)}" for h, p in starts.items())
    click.echo(f"rerunning the failed hosts of run {earlier.run_id}: {where}")
    _narrow(executor, earlier, starts)
    return Restart(earlier, resume=False, executor=executor)


def plan_resume(earlier: RunProgress, executor: Executor | SiteRun, *,
                force: bool) -> Restart:
    """Narrow `executor` to what `earlier` (a run that did not end) has left to do."""
    check_unchanged(earlier, executor, force=force)
    starts = earlier.resume_points(_targets(executor))
    _narrow(executor, earlier, starts)
    click.echo(f"resuming run {earlier.run_id}: " + (", ".join(
        f"{h} from step {step_number(p)}" for h, p in starts.items()
        if h not in executor.dropped) or "no host has steps left"))
    return Restart(earlier, resume=True, executor=executor)


def resumable(earlier: RunProgress) -> None:
    """Exit 2 unless `earlier` was cut short: interrupted (Ctrl-C, SIGTERM, SIGHUP), or no
    run end in its journal (killed, crashed) and no live process."""
    if earlier.ended and not earlier.interrupted:
        fail(f"run {earlier.run_id} ended cleanly ({earlier.end_status}): nothing to resume; "
             "to repair its failed hosts, run "
             f"`runbook apply RUNBOOK --rerun-failed {earlier.run_id}`")
    # an interrupted run's process ended it: its pid may belong to another runbook by now
    if not earlier.interrupted and earlier.pid is not None and _runbook_alive(int(earlier.pid)):
        fail(f"run {earlier.run_id} is still running (process {earlier.pid}); wait for it, "
             "or stop it first")


def _runbook_alive(pid: int) -> bool:
    """True when process `pid` exists and is a runbook (a pid can be reused)."""
    if pid == os.getpid():
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"runbook" in cmdline


def resume_options(earlier: RunProgress) -> dict[str, Any]:
    """The `apply` options of the run being resumed, from its journal (paths as given then,
    relative to its working folder `cwd`); exit 2 when they cannot be restored."""
    start = earlier.start
    options: dict[str, Any] = dict(start.get("options") or {})
    extra = [str(v) for v in start.get("extra_vars", [])]
    if any("***" in v for v in extra):
        fail(f"run {earlier.run_id} was given -e values holding a secret, recorded masked: "
             "resume cannot restore them; rerun its failed hosts with `runbook apply "
             f"RUNBOOK ... --rerun-failed {earlier.run_id}` instead")
    if not start.get("runbook_path"):
        fail(f"run {earlier.run_id}: its journal does not name the runbook; it cannot be resumed")
    options.update(runbook=start["runbook_path"], lab=start.get("lab_path"), extra_vars=extra)
    return options


def recorded_options(opts: StartOptions) -> dict[str, Any]:
    """What `runbook resume` needs to start this run again (paths as given, and the folder
    they are relative to)."""
    return {"cwd": str(Path.cwd()), "limit": opts.limit, "forks": opts.forks,
            "fail_fast": opts.fail_fast, "output_limit": opts.output_limit,
            "secrets": None if opts.secrets is None else str(opts.secrets),
            "keep_runs": opts.keep_runs, "tags": list(opts.tags),
            "skip_tags": list(opts.skip_tags), "start_at_step": opts.start_at_step}


def plan_restart(opts: StartOptions, runner: Runner) -> Restart | None:
    """Narrow the run for `--rerun-failed RUN` or `runbook resume` (None: a plain run)."""
    if opts.resume is None and (opts.rerun_failed is None or opts.check):
        return None
    executor = restartable(runner, "runbook resume" if opts.resume is not None
                           else "--rerun-failed")
    if opts.resume is not None:
        return plan_resume(opts.resume, executor, force=opts.force)
    from runbook.records import resolve_runs_dir

    assert opts.rerun_failed is not None
    return plan_rerun(opts.rerun_failed, resolve_runs_dir(opts.runs_dir), executor,
                      force=opts.force)


def restartable(runner: Runner, command: str) -> Executor | SiteRun:
    """The runner, which can start part-way: an `Executor`, or a multi-site run's `SiteRun`
    (its sites' workers start their hosts part-way too: docs/sites.md)."""
    from runbook.engine.executor import Executor

    if isinstance(runner, Executor):
        return runner
    from runbook.sites.controller import SiteRun  # only a lab with sites gets here

    if not isinstance(runner, SiteRun):
        fail(f"{command}: this kind of run cannot start part-way")
    return runner
