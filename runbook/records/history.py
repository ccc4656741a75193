"""Past runs read back: a run's report (from report.json, or rebuilt from its journal), its
one-line summary for `runbook runs`, and the part of it `runbook show --host/--step` asks for.
"""

from __future__ import annotations

import json
from typing import Any

from runbook._dataclass import frozen
from runbook._suggest import hint
from runbook.errors import RunNotFoundError
from runbook.records.journal_reader import read_journal, report_from_journal
from runbook.records.runfolder import RunFolder, in_progress

_BAD = frozenset({"failed", "error", "unreachable"})


def load_run_report(folder: RunFolder) -> dict[str, Any]:
    """The report of a recorded run: report.json when the run finished, else rebuilt from the
    journal (status `unfinished` when the journal has no run end: killed or crashed;
    `running` while another process still records it).

    Raises RunNotFoundError, saying what is wrong with each file, when neither can be read
    (missing, not JSON, or not shaped as runbook writes them).
    """
    try:
        report = check_report_shape(json.loads(folder.report_json.read_text(encoding="utf-8")))
    except OSError as exc:
        why_report = exc.strerror or str(exc)
    except json.JSONDecodeError as exc:
        why_report = f"not JSON ({exc})"
    except ValueError as exc:
        why_report = str(exc)
    else:
        return {**report, "run_id": report.get("run_id") or folder.run_id}
    try:
        report = check_report_shape(report_from_journal(read_journal(folder.journal)))
    except OSError as exc:
        why_journal = exc.strerror or str(exc)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        why_journal = f"not a journal runbook wrote ({type(exc).__name__}: {exc})"
    else:
        if report["status"] == "unfinished" and in_progress(folder):
            report["status"] = "running"  # not killed: another process is recording it
        return {**report, "run_id": report.get("run_id") or folder.run_id}
    raise RunNotFoundError(f"cannot read the run in {folder.path}: report.json: {why_report}; "
                           f"journal.jsonl: {why_journal}")


def _expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ValueError(f"{where} has the wrong type (bool)")
    if not isinstance(value, kind):
        raise ValueError(f"{where} has the wrong type ({type(value).__name__})")
    return value


def check_report_shape(report: Any) -> dict[str, Any]:
    """`report` when it has the shape the commands read (schemas/report.schema.json, plus
    `unfinished`); ValueError naming the first field that does not."""
    number, text = (int, float), str
    _expect(report, dict, "the report")
    for key in ("started", "ended", "duration_s"):
        _expect(report.get(key, 0), (*number, type(None)), key)
    for key in ("status", "runbook"):
        _expect(report.get(key, ""), text, key)
    for host, counts in _expect(report.get("hosts"), dict, "hosts").items():
        for status, count in _expect(counts, dict, f"hosts.{host}").items():
            _expect(count, int, f"hosts.{host}.{status}")
    for i, step in enumerate(_expect(report.get("steps"), list, "steps")):
        _expect(step, dict, f"steps[{i}]")
        _expect(step.get("index"), int, f"steps[{i}].index")
        _expect(step.get("name"), text, f"steps[{i}].name")
        for host, result in _expect(step.get("results"), dict, f"steps[{i}].results").items():
            where = f"steps[{i}].results.{host}"
            _expect(_expect(result, dict, where).get("status"), text, f"{where}.status")
            for key in ("started", "ended"):
                _expect(result.get(key, 0), number, f"{where}.{key}")
            for key in ("message", "command", "output"):
                _expect(result.get(key, ""), (text, type(None)), f"{where}.{key}")
    shaped: dict[str, Any] = report
    return shaped


def host_failed(report: dict[str, Any], host_id: str) -> bool:
    """True when the host failed, errored or was unreachable in some step (a failure that was
    ignored, or that a block's `rescue` recovered, does not count)."""
    return any(
        result["status"] in _BAD and not (result.get("ignored") or result.get("rescued"))
        for step in report.get("steps", [])
        if (result := step.get("results", {}).get(host_id)) is not None
    )


@frozen(slots=True)
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
