"""Run folders: where `runbook apply` records a run, how runs are named, found and pruned.

One folder per run, `<runs dir>/<run id>/` (docs/records.md):

    journal.jsonl   one JSON line per event, written as the run goes (journal.py)
    report.json     the JSON report (schemas/report.schema.json), written at the end
    junit.xml       the JUnit XML report
    report.html     the self-contained HTML report
    hosts/          per-host transcripts, `hosts/<host id>.log` (`RunFolder.host_log`)

A run id is the UTC start time to the second, then 4 hex digits of the fraction of that
second (1/65536 s): `20261202T061500Z-8a3f`. Ids sort by time as plain strings, so listing,
`last` and pruning need no file reads.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from runbook._dataclass import frozen
from runbook.errors import RunNotFoundError, RunRecordError

DEFAULT_RUNS_DIR = Path(".runbook") / "runs"
RUNS_DIR_ENV = "RUNBOOK_RUNS_DIR"
DEFAULT_KEEP_RUNS = 50
RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4}$")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._@+-]")


def new_run_id(now: float | None = None) -> str:
    """The id of a run starting at `now` (epoch seconds; default: this instant)."""
    now = time.time() if now is None else now
    whole = int(now)
    fraction = min(0xFFFF, int((now - whole) * 0x10000))
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(whole)) + f"-{fraction:04x}"


def resolve_runs_dir(explicit: Path | None = None,
                     environ: Mapping[str, str] | None = None) -> Path:
    """`--runs-dir`, else `$RUNBOOK_RUNS_DIR`, else `.runbook/runs` under the current folder."""
    if explicit is not None:
        return explicit
    env = (os.environ if environ is None else environ).get(RUNS_DIR_ENV, "").strip()
    return Path(env) if env else DEFAULT_RUNS_DIR


def step_path(*indexes: int) -> str:
    """The key of a step in the journal: its index in the plan's flat list (steps of blocks
    and includes counted in place), `"3"`; several indexes are joined with `/`. Resume and
    rerun find where a host stopped by it."""
    return "/".join(str(i) for i in indexes)


def step_number(path: str) -> str:
    """A step path as people count steps, from 1: `"3"` -> `"4"`, `"3/0/2"` -> `"4.1.3"`."""
    return ".".join(str(int(part) + 1) for part in path.split("/"))


def safe_file_name(name: str) -> str:
    """`name` usable as one file name: unusual characters become `_`, never empty or a dot."""
    cleaned = _UNSAFE_NAME.sub("_", name)
    return cleaned if cleaned.strip(".") else "_" + cleaned


@frozen(slots=True)
class RunFolder:
    """The folder of one recorded run and the names of the files in it."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def journal(self) -> Path:
        return self.path / "journal.jsonl"

    @property
    def report_json(self) -> Path:
        return self.path / "report.json"

    @property
    def junit(self) -> Path:
        return self.path / "junit.xml"

    @property
    def report_html(self) -> Path:
        return self.path / "report.html"

    @property
    def hosts_dir(self) -> Path:
        return self.path / "hosts"

    def host_log(self, host_id: str) -> Path:
        """Where the transcript of `host_id` goes: `hosts/<host id>.log`."""
        return self.hosts_dir / f"{safe_file_name(host_id)}.log"

    @classmethod
    def create(cls, runs_dir: Path, now: float | None = None) -> RunFolder:
        """Make a new, empty run folder (with `hosts/`) under `runs_dir`; its name is unique.

        Raises RunRecordError (saying which folder and why) when it cannot be created.
        """
        run_id = new_run_id(now)
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
            for _ in range(1000):
                path = runs_dir / run_id
                try:
                    path.mkdir()
                except FileExistsError:  # another run began in the same 1/65536 s
                    run_id = _next_id(run_id)
                    continue
                (path / "hosts").mkdir()
                return cls(path)
        except OSError as exc:
            raise RunRecordError(f"cannot create a run folder in {runs_dir}: "
                                 f"{exc.strerror or exc}") from exc
        raise RunRecordError(f"cannot create a run folder in {runs_dir}: too many runs at once")


def _next_id(run_id: str) -> str:
    stamp, _, fraction = run_id.rpartition("-")
    return f"{stamp}-{(int(fraction, 16) + 1) % 0x10000:04x}"


def list_runs(runs_dir: Path) -> list[RunFolder]:
    """Every run folder under `runs_dir`, oldest first (other files and folders are ignored)."""
    try:
        entries = [p for p in runs_dir.iterdir() if RUN_ID.match(p.name) and p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [RunFolder(p) for p in sorted(entries, key=lambda p: p.name)]


def _is_run_folder(path: Path) -> bool:
    return path.is_dir() and ((path / "journal.jsonl").exists() or (path / "report.json").exists())


def find_run(spec: str, runs_dir: Path) -> RunFolder:
    """The run `spec` names: `last`, a folder path, a run id, or a unique prefix of one.

    Raises RunNotFoundError saying what exists (or which runs a prefix matches).
    """
    runs = list_runs(runs_dir)
    if spec == "last":
        if not runs:
            raise RunNotFoundError(f"no runs recorded in {runs_dir}")
        return runs[-1]
    if ("/" in spec or spec.startswith(".")) and _is_run_folder(Path(spec)):
        return RunFolder(Path(spec))
    exact = [r for r in runs if r.run_id == spec]
    matches = exact or [r for r in runs if r.run_id.startswith(spec)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = ", ".join(r.run_id for r in matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise RunNotFoundError(f"run {spec!r} is ambiguous in {runs_dir}: it matches {listed}; "
                               "give more of the id")
    if _is_run_folder(Path(spec)):  # a folder named without a slash, e.g. from the runs dir
        return RunFolder(Path(spec))
    if Path(spec).is_dir():
        raise RunNotFoundError(f"{spec} is a folder but not a run folder (no journal.jsonl "
                               "or report.json in it)")
    hint = f"the last is {runs[-1].run_id}" if runs else "there are none"
    raise RunNotFoundError(f"no run {spec!r} in {runs_dir} ({hint}); see `runbook runs`")


def in_progress(folder: RunFolder) -> bool:
    """Whether a live process is still recording into `folder`: its journal holds a lock
    while the run goes (a killed or crashed run's lock is gone with its process)."""
    try:
        with folder.journal.open("rb") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def prune_runs(runs_dir: Path, keep: int, *, protect: RunFolder | None = None) -> list[Path]:
    """Delete the oldest run folders so that at most `keep` remain; returns what was removed.

    `protect` (the run being recorded) is never removed and counts as one kept, nor is a run
    another process is still recording (`in_progress`). Only folders named like a run id are
    touched; a folder that cannot be removed is left alone.
    """
    runs = list_runs(runs_dir)
    if protect is not None:
        kept = protect.path.resolve()
        others = [r for r in runs if r.path.resolve() != kept]
        keep -= len(runs) - len(others)  # the protected run counts as one of those kept
        runs = others
    removed: list[Path] = []
    for run in runs[:max(0, len(runs) - max(0, keep))]:
        if in_progress(run):
            continue
        shutil.rmtree(run.path, ignore_errors=True)
        if not run.path.exists():
            removed.append(run.path)
    return removed
