"""Where hosts of a recorded run stopped (rerun / resume points), restored values, changes,
and the merged outcome, from journals written by the real Journal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runbook.engine.results import HostStepResult, RunOutcome, RunStatus, StepOutcome
from runbook.records import read_journal, report_from_journal
from runbook.records.merge import merge_earlier
from runbook.records.progress import RunProgress
from runbook.records.runfolder import RunFolder
from runbook.results import Status

STEPS = [{"index": i, "path": str(i), "name": f"s{i}", "action": "run"} for i in range(3)]
TARGETS = [(str(i), ["a", "b", "c", "d"]) for i in range(3)]


def result(status: str, message: str = "", **extra: Any) -> dict[str, Any]:
    return {"status": status, "rc": 0, "output": f"{status}\n", "started": 1.0, "ended": 2.0,
            **({"message": message} if message else {}), **extra}


def journal(tmp_path: Path, *records: dict[str, Any], ended: bool = False) -> RunProgress:
    folder = RunFolder.create(tmp_path)
    lines = [{"event": "run_start", "run_id": folder.run_id, "hosts": ["a", "b", "c", "d"],
              "steps": STEPS, "runbook_sha256": "aaa", "pid": 1}, *records]
    if ended:
        lines.append({"event": "run_end", "status": "failed"})
    folder.journal.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"cut sh')
    return RunProgress.load(folder)


def hr(step: int, host: str, res: dict[str, Any], registered: Any = None) -> dict[str, Any]:
    return {"event": "host_result", "step": step, "path": str(step), "host": host,
            "result": res, "register": "r" if registered is not None else None,
            "registered": registered}


def test_repair_points_are_each_failed_hosts_first_not_ok_step(tmp_path: Path) -> None:
    progress = journal(
        tmp_path,
        *(hr(0, h, result("success"), {"output": f"v-{h}"}) for h in "abcd"),
        hr(1, "a", result("success")), hr(1, "b", result("failed")),
        hr(1, "c", result("skipped", "skipped: when x")), hr(1, "d", result("failed", ignored=True)),
        hr(2, "a", result("unreachable")), hr(2, "b", result("skipped", "skipped: failed in s1")),
        hr(2, "c", result("success")), ended=True)
    assert progress.ended
    assert progress.repair_points(TARGETS) == {"b": "1", "a": "2", "d": "2"}
    assert progress.registered_before("b", ["0", "1", "2"], "1") == {"r": {"output": "v-b"}}
    assert progress.registered_before("b", ["0", "1", "2"], "0") == {}


def test_resume_points_continue_unfinished_hosts_and_keep_failed_ones_out(
        tmp_path: Path) -> None:
    progress = journal(
        tmp_path,
        *(hr(0, h, result("success")) for h in "abcd"),
        hr(1, "a", result("success")), hr(1, "b", result("failed")),
        hr(1, "c", result("error", "interrupted")))
    assert not progress.ended and progress.pid == 1
    starts = progress.resume_points(TARGETS)
    assert starts == {"a": "2", "b": "2", "c": "1", "d": "1"}
    order = ["0", "1", "2"]
    assert progress.failures_before("b", order, "2") == [("1", "failed")]  # the engine drops b
    assert progress.failures_before("c", order, "1") == []


def test_item_lines_and_rescued_lines_say_how_far_a_host_got_inside(tmp_path: Path) -> None:
    entry = {"item": "x", "status": "success", "rc": 0, "output": "x\n"}
    progress = journal(
        tmp_path,
        hr(0, "a", result("failed")), hr(0, "b", result("failed")),
        hr(1, "a", result("success")),
        {"event": "rescued", "host": "a", "block": "B", "steps": ["0", "1"]},
        {"event": "item_result", "step": 2, "path": "2", "host": "b", "item": 0,
         "entry": entry},
        hr(2, "a", result("failed", items=[entry, {**entry, "item": "y", "status": "failed"}])))
    assert progress.result("0", "a") == {**result("failed"), "rescued": True}
    targets = [*TARGETS[:2], ("2", ["a"])]
    assert progress.repair_points(targets) == {"a": "2", "b": "0", "c": "0", "d": "0"}
    assert progress.failures_before("a", ["0", "1", "2"], "2") == []
    assert progress.items["b"] == {"2": {0: entry}}  # b was cut short inside the loop
    assert progress.items["a"]["2"][1]["item"] == "y"  # from the whole result
    shown = report_from_journal(read_journal(progress.folder.journal))  # runs / show
    assert shown["steps"][0]["results"]["a"].get("rescued") is True
    assert "rescued" not in shown["steps"][0]["results"]["b"]


def test_changes_name_the_steps_that_differ(tmp_path: Path) -> None:
    progress = journal(tmp_path)
    assert progress.changes("aaa", []) == []
    now = [{"name": "s0", "action": "run"}, {"name": "renamed", "action": "run"}]
    changes = progress.changes("bbb", now)
    assert changes[0].startswith("its content changed")
    assert changes[1:] == ["step 2: 's1' (run) -> 'renamed' (run)",
                           "step 3: 's2' (run) -> (none)"]


def test_merge_fills_in_the_earlier_results_and_judges_all_hosts(tmp_path: Path) -> None:
    progress = journal(tmp_path, *(hr(0, h, result("success")) for h in "abcd"),
                       hr(1, "a", result("failed")), hr(1, "b", result("success")), ended=True)
    outcome = RunOutcome("rb", "rb.yml", None, ["a"], [
        StepOutcome(i, f"s{i}", "run", "x:1:1") for i in range(3)], started=5.0, ended=6.0,
        status=RunStatus.SUCCESS)
    outcome.steps[1].results["a"] = HostStepResult("a", Status.Success, 0, "fixed\n", 5.0, 6.0)
    merge_earlier(outcome, progress)
    assert outcome.hosts == ["a", "b", "c", "d"]
    assert list(outcome.steps[0].results) == ["a", "b", "c", "d"]
    assert outcome.steps[1].results["a"].output == "fixed\n"
    assert outcome.steps[1].results["b"].output == "success\n"
    assert outcome.status is RunStatus.SUCCESS
    progress.results["0"]["c"] = result("unreachable")
    merge_earlier(outcome, journal(tmp_path / "x", hr(0, "c", result("unreachable")),
                                   ended=True))
    assert outcome.steps[0].results["c"].word == "success"  # the new result is kept


def test_a_restarted_run_that_stopped_on_an_internal_error_stays_failed(tmp_path: Path
                                                                       ) -> None:
    # Every host's result, earlier and new, is a success: the engine's error alone fails it.
    progress = journal(tmp_path, *(hr(0, h, result("success")) for h in "abcd"), ended=True)
    outcome = RunOutcome("rb", "rb.yml", None, ["a"], [
        StepOutcome(0, "s0", "run", "x:1:1")], started=5.0, ended=6.0, status=RunStatus.FAILED,
        error="RuntimeError: boom")
    merge_earlier(outcome, progress)
    assert outcome.status is RunStatus.FAILED
