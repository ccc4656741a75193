"""`runbook runs` and `runbook show`: the recorded runs, and the recap of one of them.

Exit codes: 0 done; 2 usage errors (an unknown or ambiguous RUN, an unknown --host or
--step); 130 interrupted. Neither command imports asyncssh: they only read run folders.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from runbook._text import visible_controls
from runbook.cli.exits import exit_130_on_interrupt, fail
from runbook.cli.params import FolderPath
from runbook.errors import RunNotFoundError

_COUNTS = ("success", "failed", "error", "skipped", "unreachable")
_NOT_OK = ("failed", "error", "unreachable")
_runs_dir_option = click.option(
    "--runs-dir", type=FolderPath(), default=None,
    help="Where runs are recorded (default: $RUNBOOK_RUNS_DIR or .runbook/runs).")


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) if epoch else "-"


def _took(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]],
           right: frozenset[int] = frozenset()) -> list[str]:
    """Aligned columns; `right` holds the indexes of right-aligned (numeric) columns."""
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    return ["  ".join(str(cell).rjust(w) if i in right else str(cell).ljust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in (header, *rows)]


def _runs_folder(runs_dir: Path | None) -> Path:
    """The runs folder to read (`--runs-dir`, $RUNBOOK_RUNS_DIR or the default); exit 2 when
    it names something that is not a folder."""
    from runbook.records import resolve_runs_dir

    folder = resolve_runs_dir(runs_dir)
    if folder.exists() and not folder.is_dir():
        fail(f"runbook: the runs folder {folder} is not a folder; point --runs-dir (or "
             "RUNBOOK_RUNS_DIR) at the folder holding the run folders")
    return folder


@click.command("runs")
@_runs_dir_option
@exit_130_on_interrupt
def runs_command(runs_dir: Path | None) -> None:
    """List the recorded runs, oldest first (newest last).

    \b
    Exit codes: 0 done (also when there are none); 2 the runs folder is not a folder;
    130 interrupted.
    """
    from runbook.records import list_runs
    from runbook.records.history import RunSummary, load_run_report

    folder = _runs_folder(runs_dir)
    rows = []
    for run in list_runs(folder):
        try:
            s = RunSummary.of(load_run_report(run))
        except RunNotFoundError:
            rows.append((run.run_id, "?", "-", "-", "unreadable", "-"))
            continue
        rows.append((s.run_id, s.runbook, _when(s.started), _took(s.duration_s), s.status,
                     f"{s.hosts_ok}/{s.hosts_failed}"))
    if not rows:
        click.echo(f"no runs recorded in {folder}")
        return
    header = ("run", "runbook", "started (UTC)", "duration", "status", "hosts ok/failed")
    click.echo(visible_controls("\n".join(_table(header, rows, right=frozenset({3, 5})))))


@click.command("show")
@click.argument("run")
@click.option("--host", "host", metavar="HOST",
              help="This host: its status, its steps and its transcript.")
@click.option("--step", "step", metavar="STEP", help="Only this step (its number or name).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Text recap, or the (narrowed) JSON report.")
@click.option("--transcript", is_flag=True,
              help="With --host: only the host's transcript, as it is (the old spelling).")
@_runs_dir_option
@exit_130_on_interrupt
def show_command(run: str, *, host: str | None, step: str | None, fmt: str, transcript: bool,
                 runs_dir: Path | None) -> None:
    """Show a recorded run: its recap, a host's transcript, one step's hosts, or one
    host-step.

    RUN is a run id, a unique prefix of one, `last`, or a run folder's path. A run that
    never finished (killed) is rebuilt from its journal and shown as `unfinished`.
    `--host H` shows the host's final status and steps, then its transcript (every
    command sent and its output); with `--step S`, that one host-step in full.

    \b
    Exit codes: 0 done; 2 unknown, empty or ambiguous RUN, a run that cannot be read,
    unknown --host or --step; 130 interrupted.
    """
    from runbook.records import find_run
    from runbook.records.history import load_run_report, select

    if not run.strip():
        fail("runbook: RUN is empty: give a run id, a prefix of one, `last` or a run folder "
             "(see `runbook runs`)")
    try:
        folder = find_run(run, _runs_folder(runs_dir))
        report = select(load_run_report(folder), host=host, step=step)
    except RunNotFoundError as exc:
        fail(f"runbook: {exc}")
    if transcript:
        _print_transcript(folder.host_log(host) if host is not None else None)
        return
    if fmt == "json":
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    lines = _header(report, folder.path)
    if host is not None and step is not None:
        lines += _host_step(report, host)
    elif host is not None:
        lines += _host_steps(report, host)
    elif step is not None:
        lines += _step_hosts(report)
    else:
        lines += _recap(report)
    # recorded output is kept as received; the terminal sees its control characters escaped
    click.echo(visible_controls("\n".join(lines)))
    if host is not None and step is None:
        _host_transcript(folder.host_log(host))


def _host_transcript(path: Path) -> None:
    """After `show RUN --host H`'s header: the host's transcript, or why there is none."""
    if not path.exists():
        click.echo(f"\nno transcript: the run sent nothing to {path.stem}")
        return
    click.echo(f"\ntranscript ({path}):")
    _print_transcript(path)


def _print_transcript(path: Path | None) -> None:
    """Copy a host's transcript to stdout as it is (it may be large: in pieces)."""
    if path is None:
        fail("runbook: --transcript needs --host HOST")
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            while chunk := handle.read(1 << 16):
                click.echo(chunk, nl=False)
    except FileNotFoundError:
        fail(f"runbook: no transcript {path}: the run sent nothing to that host")


def _header(report: dict[str, Any], path: Path) -> list[str]:
    lab = report.get("lab_path") or "(local host only)"
    status = report.get("status", "")
    if report.get("error"):
        status += f" (internal error: {report['error']})"
    rows = [("run", f"{report.get('run_id')}  ({path})"),
            ("runbook", f"{report.get('runbook')} ({report.get('runbook_path')})"),
            ("lab", lab), ("status", status),
            *([("repairs", f"run {report['repairs']} (this report merges its results)")]
              if report.get("repairs") else []),
            ("started", f"{_when(float(report.get('started') or 0))} UTC, took "
                        f"{_took(float(report.get('duration_s') or 0))}")]
    locks = report.get("locks") or {}
    if locks.get("skipped") or locks.get("lost"):
        from runbook.cli.treeview import NO_LOCK_TEXT

        rows.append(("locks", NO_LOCK_TEXT if locks.get("skipped") else str(locks["lost"])))
    if (path / "report.html").exists():
        rows.append(("report", str(path / "report.html")))
    return [f"{k:<8} {v}" for k, v in rows] + [""]


def _recap(report: dict[str, Any]) -> list[str]:
    rows = [(h, *(str(c.get(k, 0)) for k in _COUNTS)) for h, c in report["hosts"].items()]
    lines = _table(("host", "ok", *_COUNTS[1:]), rows, right=frozenset(range(1, 6)))
    bad = [(f"{s['index'] + 1}. {s.get('path') or s['name']}", h, r["status"],
            r.get("message", ""))
           for s in report["steps"] for h, r in s["results"].items()
           if r["status"] in _NOT_OK
           and not (r.get("ignored") or r.get("rescued"))]
    if bad:
        lines += ["", "not ok:", *("  " + t for t in _table(("step", "host", "status",
                                                             "message"), bad))]
    return lines


def _result_row(result: dict[str, Any]) -> tuple[str, str, str, str]:
    rc = "" if result.get("rc") is None else str(result["rc"])
    took = _took(max(0.0, float(result.get("ended", 0)) - float(result.get("started", 0))))
    status = result["status"] + (" (ignored)" if result.get("ignored") else "") + (
        " (rescued)" if result.get("rescued") else "")
    return status, rc, took, result.get("message", "")


def _host_steps(report: dict[str, Any], host: str) -> list[str]:
    rows = [(str(s["index"] + 1), s.get("path") or s["name"], *_result_row(s["results"][host]))
            for s in report["steps"]]
    if not rows:
        return [f"host {host} has no results in this run"]
    return [f"host     {host}: {_host_status(report, host)}", "",
            *_table(("#", "step", "status", "rc", "took", "message"), rows,
                    right=frozenset({0, 3, 4}))]


def _host_status(report: dict[str, Any], host: str) -> str:
    """The host's final word in the run: ok, or its first result that was not ok."""
    for s in report["steps"]:
        r = s["results"].get(host)
        if r and r["status"] in _NOT_OK and not (r.get("ignored") or r.get("rescued")):
            return f"not ok: {r['status']} in step {s['index'] + 1}. {s.get('path') or s['name']}"
    return "ok" if report.get("status") != "unfinished" else "ok so far (the run is unfinished)"


def _step_hosts(report: dict[str, Any]) -> list[str]:
    step = report["steps"][0]
    rows = [(h, *_result_row(r)) for h, r in step["results"].items()]
    title = (f"step {step['index'] + 1}. {step.get('path') or step['name']} ({step['action']}, "
             f"{step.get('location')})")
    if not rows:
        return [title, "no results (the run never reached this step)"]
    return [title, *_table(("host", "status", "rc", "took", "message"), rows,
                           right=frozenset({2, 3}))]


def _host_step(report: dict[str, Any], host: str) -> list[str]:
    step = report["steps"][0]
    title = f"step {step['index'] + 1}. {step.get('path') or step['name']} on {host}"
    result = step["results"].get(host)
    if result is None:
        return [title, "no result: the step did not target this host, or the run never "
                       "reached it"]
    status, rc, took, message = _result_row(result)
    lines = [title, f"status   {status}" + (f", exit status {rc}" if rc else ""),
             f"started  {_when(float(result.get('started') or 0))} UTC, took {took}"]
    if message:
        lines.append(f"message  {message}")
    for item in result.get("items") or []:  # a loop's items, one line each
        lines.append(f"item     [{item.get('item')}] {item.get('status')}"
                     + (f": {item['message']}" if item.get("message") else ""))
    lines += ["", "command:", result.get("command") or "(nothing was sent)", "",
              "output:", (result.get("output") or "(no output)").rstrip("\n")]
    return lines
