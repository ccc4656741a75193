"""Recording one run: create its folder, journal its events, write its reports, prune old runs.

`RunRecorder.start(executor, ...)` is the only thing a caller (the `apply` command, or a library
user) needs: it subscribes the journal to the executor's event bus. The executor is any
`runbook.engine.runner.Runner`: for a multi-site run (`runbook.sites.SiteRun`) that bus is the
one the sites' events are merged into, so the site hosts are journalled like local ones, with
their site. After the run (success,
failure or interruption) `finish(outcome)` writes report.json, junit.xml and report.html into
the folder. The oldest folders beyond `keep` are pruned in a thread from `start` on (deleting
a 1,000-host run's folder takes about 0.3 s, which then overlaps with connecting to the
hosts); `finish` waits for it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.records.journal import Journal
from runbook.records.runfolder import DEFAULT_KEEP_RUNS, RunFolder, prune_runs, step_path
from runbook.records.transcript import Transcripts
from runbook.report.json_report import atomic_write

if TYPE_CHECKING:
    from runbook.engine.results import RunOutcome, StepOutcome
    from runbook.engine.runner import Runner


def file_sha256(path: Path) -> str | None:
    """Hex sha256 of a file's content (None if it cannot be read): recorded to spot edits."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 16), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


class RunRecorder:
    """The run folder of one run being executed; see the module docstring."""

    def __init__(self, folder: RunFolder, journal: Journal, *, keep: int,
                 mask: Callable[[str], str], transcripts: Transcripts | None = None) -> None:
        self.folder = folder
        self.journal = journal
        self.keep = keep
        self.mask = mask
        self.transcripts = transcripts
        self.finished = False
        self._pruning: _Pruning | None = None

    @property
    def run_id(self) -> str:
        return self.folder.run_id

    @classmethod
    def start(cls, executor: Runner, runs_dir: Path, *, keep: int = DEFAULT_KEEP_RUNS,
              extra_vars: Sequence[str] = (), mask: Callable[[str], str] | None = None,
              options: Mapping[str, Any] | None = None, repairs: str | None = None
              ) -> RunRecorder:
        """Create the run folder, subscribe its journal to `executor`'s events and give the
        executor and hosts their transcripts (`hosts/<host id>.log`).

        Raises RunRecordError when the folder cannot be created. `extra_vars` (the `-e`
        arguments as given) are recorded masked; `options` (how the run was started, for
        `runbook resume`) and `repairs` (the run a `--rerun-failed` run repairs) go into the
        journal's first line.
        """
        mask = mask or executor.mask
        folder = RunFolder.create(runs_dir)
        outcome = executor.outcome
        outcome.run_id = folder.run_id
        header: dict[str, Any] = {
            "run_id": folder.run_id,
            "runbook_path": outcome.runbook_path,
            "runbook_sha256": file_sha256(Path(outcome.runbook_path)),
            "lab_path": outcome.lab_path,
            "extra_vars": list(extra_vars),
            "steps": [{"index": p.step.index, "key": step_path(p.step.index),
                       "name": p.step.name, "action": p.step.action.kind,
                       "location": str(p.step.location),
                       "register": p.step.register or None, **_tree_place(o)}
                      for p, o in zip(executor.plan.steps, outcome.steps, strict=True)],
            "options": dict(options or {}),
            "pid": os.getpid(),
            "repairs": repairs,
        }
        if outcome.sites:  # a multi-site run: host id -> the site whose worker drives it
            header["sites"] = dict(outcome.sites)
        journal = Journal(folder.journal, header, mask)
        recorder = cls._attach(executor, folder, journal, keep=keep, mask=mask)
        recorder._pruning = _Pruning(folder, keep)
        return recorder

    @classmethod
    def resume(cls, executor: Runner, folder: RunFolder, *, keep: int = DEFAULT_KEEP_RUNS,
               mask: Callable[[str], str] | None = None) -> RunRecorder:
        """Continue recording into an existing run folder (`runbook resume`): the journal and
        the transcripts are appended to; the journal gets a `resume` line instead of a second
        `run_start`."""
        mask = mask or executor.mask
        executor.outcome.run_id = folder.run_id
        # an interrupted run's report is stale from now on: `show` rebuilds the run from the
        # journal until finish() writes the new one
        folder.report_json.unlink(missing_ok=True)
        journal = Journal(folder.journal, {"pid": os.getpid()}, mask, resumed=True)
        return cls._attach(executor, folder, journal, keep=keep, mask=mask)

    @classmethod
    def _attach(cls, executor: Runner, folder: RunFolder, journal: Journal, *, keep: int,
                mask: Callable[[str], str]) -> RunRecorder:
        executor.bus.subscribe(journal)
        secrets = executor.plan.renderer.templater.secrets
        transcripts = Transcripts(folder, mask, lambda: secrets.values)
        executor.host_logs = transcripts.host  # a multi-site run: its workers' text too
        for host in executor.plan.hosts:
            host.notes = transcripts.host(host.id).note
            host.transcript = transcripts.host(host.id)
        return cls(folder, journal, keep=keep, mask=mask, transcripts=transcripts)

    def finish(self, outcome: RunOutcome) -> list[str]:
        """Write the reports into the folder, close the journal, prune old runs.

        Returns the problems met (each a sentence naming the file), empty when all went well;
        a problem never raises, the run's result stands. Calling it again does nothing.
        """
        if self.finished:
            return []
        self.finished = True
        from runbook.report.html import html_report_pieces
        from runbook.report.json_report import build_json_report, json_report_pieces
        from runbook.report.junit import write_junit

        problems: list[str] = []
        self.journal.close()
        if self.transcripts is not None:
            self.transcripts.close()
        report = build_json_report(outcome, self.mask)
        writers: list[tuple[Path, Callable[[], None]]] = [
            (self.folder.report_json,
             lambda: atomic_write(self.folder.report_json, json_report_pieces(report))),
            (self.folder.junit, lambda: write_junit(outcome, self.folder.junit, self.mask)),
            (self.folder.report_html,
             lambda: atomic_write(self.folder.report_html, html_report_pieces(report))),
        ]
        for path, write in writers:
            try:
                write()
            except OSError as exc:
                problems.append(f"cannot write {path}: {exc.strerror or exc}")
        pruning = self._pruning or _Pruning(self.folder, self.keep)
        if (error := pruning.result()) is not None:
            problems.append(f"cannot prune old runs in {self.folder.path.parent}: "
                            f"{error.strerror or error}")
        return problems


class _Pruning:
    """`prune_runs` for a run folder's siblings, in a thread of its own (daemon: a killed run
    leaves the rest to the next run's pruning)."""

    def __init__(self, folder: RunFolder, keep: int) -> None:
        self._folder = folder
        self._keep = keep
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._prune, name="runbook-prune", daemon=True)
        self._thread.start()

    def _prune(self) -> None:
        try:
            prune_runs(self._folder.path.parent, self._keep, protect=self._folder)
        except OSError as exc:
            self._error = exc

    def result(self) -> OSError | None:
        """Wait for the pruning to end; the error that stopped it, if any."""
        self._thread.join()
        return self._error


def _tree_place(step: StepOutcome) -> dict[str, Any]:
    """A nested step's place in the step tree (path, frames) and its tags, as the JSON report
    has them, so a report rebuilt from the journal shows them too."""
    place: dict[str, Any] = {"path": step.path, "frames": step.frames} if step.frames else {}
    if step.tags:
        place["tags"] = step.tags
    return place
