"""Reading a run journal (journal.py writes it) back: its records, and a report rebuilt from
them for a run that never wrote its report.json (killed, crashed).

Imports nothing of the engine, so `runbook runs` and `runbook show` start fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# HostStepResult.word values, in report order (the engine is not imported here)
HOST_STATUSES = ("success", "failed", "error", "skipped", "unreachable")


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The journal's records in order; a line cut short by a crash (the last one) is dropped."""
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "event" in record:
                records.append(record)
    return records


def report_from_journal(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A report shaped like report.json, rebuilt from journal records.

    For a run that never ended (killed, crashed) `status` is `unfinished`, `ended` is the last
    time the journal saw, and steps it never reached have no results.
    """
    start = next((r for r in records if r["event"] == "run_start"), {})
    end = _last_end(records)
    steps = [{**{k: s.get(k) for k in ("index", "name", "action", "location")},
              **{k: s[k] for k in ("path", "frames", "tags") if k in s},
              "started": None, "ended": None, "results": {}} for s in start.get("steps", [])]
    by_index = {s["index"]: s for s in steps}
    last_seen = float(start.get("started") or 0.0)
    for record in records:
        if record["event"] == "rescued":
            _mark_rescued(record, by_index)
        step = by_index.get(record.get("step", -1))
        if step is None:
            continue
        if record["event"] == "host_result":
            step["results"][record["host"]] = record["result"]
            last_seen = max(last_seen, float(record["result"].get("ended") or 0.0))
        elif record["event"] == "step_end":
            step["started"], step["ended"] = record.get("started"), record.get("ended")
    started = float(start.get("started") or 0.0)
    ended = float(end["ended"]) if end and end.get("ended") is not None else last_seen
    report: dict[str, Any] = {
        "version": 1, "run_id": start.get("run_id"), "runbook": start.get("runbook", ""),
        "runbook_path": start.get("runbook_path", ""), "lab_path": start.get("lab_path"),
        "status": end["status"] if end else "unfinished", "check": bool(start.get("check")),
        "started": started, "ended": ended, "duration_s": round(max(0.0, ended - started), 6),
        "hosts": _host_counts(start.get("hosts", []), steps), "steps": steps,
    }
    if start.get("sites"):
        report["sites"] = start["sites"]
    for key in ("error", "batches", "rescued"):
        if end and end.get(key):
            report[key] = end[key]
    return report


def _last_end(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The run end that holds now: the last one, unless a `resume` (of an interrupted run)
    follows it and did not end."""
    for index in range(len(records) - 1, -1, -1):
        kind = records[index]["event"]
        if kind == "run_end":
            return records[index]
        if kind == "resume":
            return None
    return None


def _mark_rescued(record: dict[str, Any], by_index: dict[Any, dict[str, Any]]) -> None:
    """A `rescued` line: the host's failures in the block's steps no longer fail it."""
    for path in record.get("steps", []):
        step = by_index.get(int(path)) if str(path).isdigit() else None
        result = step["results"].get(record.get("host")) if step is not None else None
        if result is not None and result.get("status") in ("failed", "error", "unreachable"):
            result["rescued"] = True


def _host_counts(hosts: list[str], steps: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    counts = {h: dict.fromkeys(HOST_STATUSES, 0) for h in hosts}
    for step in steps:
        for host_id, result in step["results"].items():
            row = counts.setdefault(host_id, dict.fromkeys(HOST_STATUSES, 0))
            row[result["status"]] = row.get(result["status"], 0) + 1
    return counts
