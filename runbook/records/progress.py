"""Where each host of a recorded run stopped: the base of `--rerun-failed` and `runbook resume`.

Read from the run's journal (and report.json when the run wrote one: it also holds the hosts
recorded `not run` after an interruption). Results are keyed by step path (`step_path`: the
step's index in the plan's flat list, where steps of blocks and includes are counted in
place, as `--list-steps` numbers them): a host restarts at the first path, in plan order,
whose result is missing or not ok.

- **rerun** (`repair_points`): every host of the run whose result in some step it was
  targeted by is not ok: failed (not ignored), error, unreachable, interrupted, or skipped
  because of one of those (a `when` skip is ok). It restarts at the first such step.
- **resume** (`resume_points`): every host continues at the first step with no result (or an
  interrupted / not-run one); its failures before that (`failures_before`) tell the engine
  whether it sits the rest out (a failure nothing can rescue any more) or goes on in the
  block around its start (rescue and always), as it would have in the original run.

Inside a step, a loop's items (`items`: each item's entry, from `item_result` lines and the
host's whole result) let a host skip the items it did ok; `rescued` lines mark the failures a
block's rescue recovered (ok: the host finished the block).

Registered values come back from the journal (`registered_before`): they are the masked
copies, so a value holding a secret comes back with `***` in its place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import field
from typing import Any

from runbook._dataclass import mutable
from runbook.records.journal_reader import read_journal
from runbook.records.runfolder import RunFolder, step_path

_BAD = frozenset({"failed", "error", "unreachable"})
#: Messages of results that say the host never got to (or through) the step.
_NOT_DONE_PREFIXES = ("not run:", "interrupted", "cancelled:")


def result_ok(result: dict[str, Any]) -> bool:
    """A result a host may keep: success, a failure ignored or rescued, or a skip (a `when`
    skip, a block's rules; a skip after a failure follows that failure, which is not ok)."""
    status = result.get("status")
    if status == "success":
        return True
    if status in _BAD and (result.get("ignored") or result.get("rescued")):
        return True
    return status == "skipped" and not result_unfinished(result)


def result_unfinished(result: dict[str, Any]) -> bool:
    """A result that says the step never ran to its end on the host (interrupted, not run)."""
    return str(result.get("message", "")).startswith(_NOT_DONE_PREFIXES)


@mutable
class RunProgress:
    """One recorded run read back: its header, whether it ended, and every host's results."""

    folder: RunFolder
    start: dict[str, Any]
    ended: bool
    #: step path -> host id -> the report's hostResult
    results: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: host id -> step path -> (register name, registered value)
    registered: dict[str, dict[str, tuple[str, Any]]] = field(default_factory=dict)
    #: pid of the last runbook process that wrote the journal
    pid: int | None = None
    #: host id -> step path -> item position -> a looped step's item entry
    items: dict[str, dict[str, dict[int, dict[str, Any]]]] = field(default_factory=dict)
    #: the status of the journal's last run end (None: it has none after the last resume)
    end_status: str | None = None

    @classmethod
    def load(cls, folder: RunFolder) -> RunProgress:
        """Read `folder`'s journal (and report.json, if any). OSError if there is no journal."""
        records = read_journal(folder.journal)
        start = next((r for r in records if r["event"] == "run_start"), {})
        progress = cls(folder, start, ended=False, pid=start.get("pid"))
        for record in records:
            progress._add(record)
        progress._add_report()
        return progress

    def _add(self, record: dict[str, Any]) -> None:
        kind = record["event"]
        path = str(record.get("path", record.get("step")))
        if kind == "host_result":
            host = record["host"]
            self.results.setdefault(path, {})[host] = record["result"]
            self._note_items(host, path, record["result"])
            if record.get("register") and record.get("registered") is not None:
                self.registered.setdefault(host, {})[path] = (record["register"],
                                                              record["registered"])
        elif kind == "item_result":
            self.items.setdefault(record["host"], {}).setdefault(path, {})[
                int(record["item"])] = record["entry"]
        elif kind == "rescued":
            for step in record.get("steps", []):
                result = self.result(str(step), record["host"])
                if result is not None and result.get("status") in _BAD:
                    result["rescued"] = True
        elif kind == "run_end":
            self.ended, self.end_status = True, record.get("status")
        elif kind == "resume":
            # a later resume was itself cut short, unless a run_end follows
            self.ended, self.end_status = False, None
            self.pid = record.get("pid", self.pid)

    def _add_report(self) -> None:
        """Results only report.json holds (hosts recorded `not run` after an interruption)."""
        try:
            report = json.loads(self.folder.report_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        for step in report.get("steps", []) if isinstance(report, dict) else []:
            known = self.results.setdefault(step_path(step["index"]), {})
            for host, result in step.get("results", {}).items():
                if host not in known:
                    known[host] = result
                    self._note_items(host, step_path(step["index"]), result)

    def _note_items(self, host: str, path: str, result: dict[str, Any]) -> None:
        """A looped step's items, from the host's whole result (they replace item lines)."""
        if isinstance(result.get("items"), list):
            self.items.setdefault(host, {})[path] = dict(enumerate(result["items"]))

    @property
    def interrupted(self) -> bool:
        """The run ended on Ctrl-C / SIGTERM / SIGHUP (its run end says `interrupted`)."""
        return self.ended and self.end_status == "interrupted"

    @property
    def run_id(self) -> str:
        return str(self.start.get("run_id") or self.folder.run_id)

    @property
    def hosts(self) -> list[str]:
        return [str(h) for h in self.start.get("hosts", [])]

    def result(self, path: str, host: str) -> dict[str, Any] | None:
        return self.results.get(path, {}).get(host)

    def repair_points(self, targets: Sequence[tuple[str, Iterable[str]]]) -> dict[str, str]:
        """Host -> path of the step to rerun it from, for each host of the run that did not
        finish ok. `targets`: each step's path and the hosts it targets, in plan order."""
        starts: dict[str, str] = {}
        for path, hosts in targets:
            for host in hosts:
                if host in starts or host not in self.hosts:
                    continue
                result = self.result(path, host)
                if result is None or not result_ok(result):
                    starts[host] = path
        return starts

    def resume_points(self, targets: Sequence[tuple[str, Iterable[str]]]) -> dict[str, str]:
        """Host -> path to continue from, for a run that did not end: each host continues at
        its first step without a finished result. (Whether an earlier failure keeps it out
        is the engine's call, from `failures_before`: inside a block, rescue may follow.)"""
        starts: dict[str, str] = {}
        for path, hosts in targets:
            for host in hosts:
                result = self.result(path, host)
                if host not in starts and (result is None or result_unfinished(result)):
                    starts[host] = path
        return starts

    def failures_before(self, host: str, order: Sequence[str],
                        start: str) -> list[tuple[str, str]]:
        """(path, message) of `host`'s failures (not ignored, not rescued) in the steps before
        `start` (`order`: plan order)."""
        found: list[tuple[str, str]] = []
        for path in order:
            if path == start:
                break
            result = self.result(path, host)
            if result is not None and not result_ok(result) and not result_unfinished(result):
                found.append((path, str(result.get("message") or result.get("status"))))
        return found

    def registered_before(self, host: str, order: Sequence[str], start: str) -> dict[str, Any]:
        """The values `host` registered in the steps before `start` (`order`: plan order)."""
        values: dict[str, Any] = {}
        done = self.registered.get(host, {})
        for path in order:
            if path == start:
                break
            if path in done:
                name, value = done[path]
                values[name] = value
        return values

    def failed_hosts(self) -> list[str]:
        """Hosts with a failure (not ignored, not rescued) somewhere in the run."""
        return [h for h in self.hosts if any(
            (r := by_host.get(h)) is not None and not result_ok(r) and not result_unfinished(r)
            for by_host in self.results.values())]

    def changes(self, runbook_sha256: str | None, steps: Sequence[dict[str, Any]]) -> list[str]:
        """What differs between the run's runbook and the one given now (empty: the same)."""
        if runbook_sha256 == self.start.get("runbook_sha256"):
            return []
        found = ["its content changed (sha256 "
                 f"{str(self.start.get('runbook_sha256'))[:12]}... -> "
                 f"{str(runbook_sha256)[:12]}...)"]
        before = [(s.get("name"), s.get("action")) for s in self.start.get("steps", [])]
        after = [(s.get("name"), s.get("action")) for s in steps]
        for i in range(max(len(before), len(after))):
            old = before[i] if i < len(before) else None
            new = after[i] if i < len(after) else None
            if old != new:
                found.append(f"step {i + 1}: {_describe(old)} -> {_describe(new)}")
        return found


def _describe(step: tuple[Any, Any] | None) -> str:
    return "(none)" if step is None else f"{step[0]!r} ({step[1]})"
