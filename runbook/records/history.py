"""Past runs read back: a run's report (from report.json, or rebuilt from its journal), its
one-line summary for `runbook runs`, and the part of it `runbook show --host/--step` asks for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from runbook._suggest import hint
from runbook.errors import RunNotFoundError
from runbook.records.journal_reader import read_journal, report_from_journal
from runbook.records.runfolder import RunFolder

_BAD = frozenset({"failed", "error", "unreachable"})


def load_run_report(folder: RunFolder) -> dict[str, Any]:
    """The report of a recorded run: report.json when the run finished, else rebuilt from the
    journal (status `unfinished` when the journal has no run end: killed or crashed).

    Raises RunNotFoundError when neither file can be read.
    """
    report: dict[str, Any] | None = None
    try:
        loaded = json.loads(folder.report_json.read_text(encoding="utf-8"))
        report = loaded if isinstance(loaded, dict) else None
    except (OSError, ValueError):
        report = None
    if report is None:
        try:
            report = report_from_journal(read_journal(folder.journal))
        except OSError as exc:
            raise RunNotFoundError(f"{folder.path} holds neither a report.json nor a readable "
                                   f"journal.jsonl ({exc.strerror or exc})") from exc
    report["run_id"] = report.get("run_id") or folder.run_id
    return report


def host_failed(report: dict[str, Any], host_id: str) -> bool:
    """True when the host failed, errored or was unreachable in some step (a failure that was
    ignored, or that a block's `rescue` recovered, does not count)."""
    return any(
        result["status"] in _BAD and not (result.get("ignored") or result.get("rescued"))
        for step in report.get("steps", [])
        if (result := step.get("results", {}).get(host_id)) is not None
    )


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One row of `runbook runs`."""

    run_id: str
    runbook: str
    started: float
    duration_s: float
    status: str
    hosts_ok: int
    hosts_failed: int

    @classmethod
    def of(cls, report: dict[str, Any]) -> RunSummary:
        hosts = list(report.get("hosts", {}))
        failed = sum(1 for h in hosts if host_failed(report, h))
        return cls(str(report.get("run_id", "")), str(report.get("runbook", "")),
                   float(report.get("started") or 0.0), float(report.get("duration_s") or 0.0),
                   str(report.get("status", "")), len(hosts) - failed, failed)


def find_step(report: dict[str, Any], spec: str) -> dict[str, Any]:
    """The step `spec` names: its 1-based number (as the console shows it) or its name."""
    steps: list[dict[str, Any]] = report.get("steps", [])
    if spec.isdigit() and 1 <= int(spec) <= len(steps):
        return steps[int(spec) - 1]
    named = [s for s in steps if s.get("name") == spec]
    if len(named) == 1:
        return named[0]
    if named:
        numbers = ", ".join(str(s["index"] + 1) for s in named)
        raise RunNotFoundError(f"several steps are named {spec!r} (numbers {numbers}); "
                               "give the step's number")
    names = [str(s.get("name")) for s in steps]
    raise RunNotFoundError(f"no step {spec!r} in run {report.get('run_id')} (steps are 1 to "
                           f"{len(steps)}, or a name: {hint(spec, names)})")


def check_host(report: dict[str, Any], host_id: str) -> None:
    """Raise RunNotFoundError (with a did-you-mean) when the run had no such host."""
    hosts = list(report.get("hosts", {}))
    if host_id not in hosts:
        raise RunNotFoundError(f"no host {host_id!r} in run {report.get('run_id')}: "
                               f"{hint(host_id, hosts)}")


def select(report: dict[str, Any], host: str | None = None,
           step: str | None = None) -> dict[str, Any]:
    """The report narrowed to one host's results and/or one step (same shape as the report).

    Raises RunNotFoundError for an unknown host or step.
    """
    if host is not None:
        check_host(report, host)
    steps = report.get("steps", [])
    if step is not None:
        steps = [find_step(report, step)]
    if host is not None:
        steps = [{**s, "results": {h: r for h, r in s.get("results", {}).items() if h == host}}
                 for s in steps]
        steps = [s for s in steps if s["results"]] if step is None else steps
    hosts = report.get("hosts", {})
    return {**report, "hosts": {host: hosts[host]} if host is not None else hosts,
            "steps": steps}
