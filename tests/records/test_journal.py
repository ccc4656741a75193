"""The journal and the recorder on a real Executor (fake hosts): lines, masking, rebuilding."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runbook.engine.events import EventBus
from runbook.engine.executor import Executor
from runbook.plan.compiler import compile_plan
from runbook.records import RunRecorder, read_journal, report_from_journal
from runbook.records.journal import Journal
from runbook.render.templating import Templater
from tests.engine.fakes import fake_lab, runbook, step

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" /
                     "report.schema.json").read_text())
SECRET = "s3cret-Value"


def mask(text: str) -> str:
    return text.replace(SECRET, "***")


def recorded_run(tmp_path: Path, keep: int = 50) -> RunRecorder:
    book = runbook(
        step(0, "say", f"echo:{SECRET}", register="said"),
        step(1, "fail f02", "{{ 'rc:3' if host.id == 'f02' else 'echo:ok' }}"),
        step(2, "after", "echo:x"),
        path=tmp_path / "book.yml",
    )
    (tmp_path / "book.yml").write_text("name: test-book\n")
    plan = compile_plan(book, fake_lab(3), Templater())
    executor = Executor(plan, forks=10, bus=EventBus(), mask=mask)
    recorder = RunRecorder.start(executor, tmp_path / "runs", keep=keep,
                                 extra_vars=[f"pw={SECRET}"])
    asyncio.run(executor.run())
    assert recorder.finish(executor.outcome) == []
    return recorder


def test_run_folder_holds_journal_and_reports(tmp_path: Path) -> None:
    recorder = recorded_run(tmp_path)
    folder = recorder.folder
    assert sorted(p.name for p in folder.path.iterdir()) == [
        "hosts", "journal.jsonl", "junit.xml", "report.html", "report.json"]
    report = json.loads(folder.report_json.read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["run_id"] == folder.run_id and report["status"] == "failed"
    assert folder.run_id in folder.report_html.read_text()
    for path in folder.path.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(), path


def test_journal_lines_in_order_with_registered_values_masked(tmp_path: Path) -> None:
    records = read_journal(recorded_run(tmp_path).folder.journal)
    kinds = [r["event"] for r in records]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert kinds.count("step_start") == 3 and kinds.count("step_end") == 3
    start = records[0]
    assert start["extra_vars"] == ["pw=***"] and len(start["runbook_sha256"]) == 64
    assert [s["register"] for s in start["steps"]] == ["said", None, None]
    said = [r for r in records if r["event"] == "host_result" and r["step"] == 0]
    assert [r["host"] for r in said] == ["f01", "f02", "f03"]
    assert said[0]["registered"] == {"output": "***\n", "rc": 0, "status": "success"}
    assert said[0]["result"]["command"] == "run: echo:***"
    skipped = [r for r in records if r["event"] == "host_result" and r["step"] == 2
               and r["host"] == "f02"]
    assert skipped[0]["result"]["status"] == "skipped"
    assert records[-1]["status"] == "failed"


def test_rebuilt_report_of_a_journal_cut_mid_line(tmp_path: Path) -> None:
    journal = recorded_run(tmp_path).folder.journal
    lines = journal.read_text().splitlines(keepends=True)
    cut = [i for i, line in enumerate(lines) if '"step":1' in line and "host_result" in line][1]
    journal.write_text("".join(lines[:cut]) + lines[cut][:25])  # killed while writing a line
    report: dict[str, Any] = report_from_journal(read_journal(journal))
    assert report["status"] == "unfinished"
    assert list(report["steps"][1]["results"]) == ["f01"]
    assert report["steps"][2]["results"] == {}
    assert report["hosts"]["f01"]["success"] == 2
    assert report["ended"] >= report["started"] > 0


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    ids = [recorded_run(tmp_path, keep=2).run_id for _ in range(3)]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ids[1:]


def test_run_once_copies_are_journaled_for_every_target(tmp_path: Path) -> None:
    """The console shows a run_once step once (one HostResult event); the record has all hosts."""
    from runbook.model import OneshotAction

    book = runbook(step(0, "once", OneshotAction((f"echo:{SECRET}",)), run_once=True,
                        register="r"), step(1, "after", "echo:x"), path=tmp_path / "book.yml")
    (tmp_path / "book.yml").write_text("name: once-book\n")
    executor = Executor(compile_plan(book, fake_lab(3), Templater()), forks=10, bus=EventBus(),
                        mask=mask)
    recorder = RunRecorder.start(executor, tmp_path / "runs", keep=5)
    asyncio.run(executor.run())
    assert recorder.finish(executor.outcome) == []
    records = read_journal(recorder.folder.journal)
    once = [r for r in records if r["event"] == "host_result" and r["step"] == 0]
    assert [r["host"] for r in once] == ["f01", "f02", "f03"]
    assert once[2]["result"]["message"].startswith("run_once: the result of 'f01'")
    assert once[2]["registered"] == once[0]["registered"] == {
        "output": "***\n", "rc": 0, "status": "success"}
    events = [r["event"] for r in records]
    assert events.index("step_end") > max(i for i, r in enumerate(records)
                                         if r["event"] == "host_result" and r["step"] == 0)
    report = report_from_journal(records)
    assert list(report["steps"][0]["results"]) == ["f01", "f02", "f03"]


def test_the_run_end_that_holds_is_the_last_one_not_followed_by_a_resume() -> None:
    """An interrupted run that is resumed: unfinished while the resume goes (or was killed),
    then the resume's own run end."""
    start = {"event": "run_start", "run_id": "r", "hosts": [], "steps": [], "started": 1.0}
    stopped = {"event": "run_end", "status": "interrupted", "ended": 2.0}
    resumed = {"event": "resume", "pid": 1, "started": 3.0}
    assert report_from_journal([start, stopped])["status"] == "interrupted"
    assert report_from_journal([start, stopped, resumed])["status"] == "unfinished"
    done = {"event": "run_end", "status": "success", "ended": 4.0}
    report = report_from_journal([start, stopped, resumed, done])
    assert report["status"] == "success" and report["duration_s"] == 3.0


def test_written_lines_are_synced_while_the_run_goes_on(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync thread syncs a burst of lines on its own (not only at close), in few syncs."""
    synced_sizes: list[int] = []
    real_sync = os.fdatasync

    def counting_sync(fd: int) -> None:
        real_sync(fd)
        synced_sizes.append(os.fstat(fd).st_size)

    monkeypatch.setattr(os, "fdatasync", counting_sync)
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, {"steps": []}, str)
    try:
        for n in range(100):
            journal.write({"event": "note", "n": n})
        written = path.stat().st_size
        deadline = time.monotonic() + 10
        while not (synced_sizes and synced_sizes[-1] >= written) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert synced_sizes and synced_sizes[-1] >= written, "the lines were never synced"
        assert len(synced_sizes) < 100  # gathered: not one sync per line
    finally:
        journal.close()
