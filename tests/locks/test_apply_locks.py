"""Lab locks end to end: real `runbook apply` processes on the sshd lab, leases in files or in
a real redis-server. Steps that must "take a while" wait for a marker file the test removes,
so nothing depends on timing; progress is read from the runs' output and the lock store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.locks.lockrun import DEADLINE, REPO, ApplyRun, holders, show_run, wait_locked
from tests.locks.redislab import RedisServer
from tests.sshlab import SshdLab


@pytest.fixture(params=["file", "redis"])
def lab(request: pytest.FixtureRequest, sshd_lab: SshdLab, tmp_path: Path) -> Path:
    extra: dict[str, Any] = {"lock": {"ttl": 30}}
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        extra["lock"].update(type="redis", url=server.url, namespace=tmp_path.name)
    return sshd_lab.lab_yaml(tmp_path / "lab.yml", ["h01", "h02", "h03"], extra=extra)


def test_second_run_exits_3_naming_the_first(lab: Path, tmp_path: Path,
                                              runs: list[ApplyRun]) -> None:
    first = ApplyRun(tmp_path, "first", lab, "^(h01|h02)$")
    runs.append(first)
    held = {h.host: h.holder for h in wait_locked(lab, {"h01", "h02"})}
    second = ApplyRun(tmp_path, "second", lab, "^(h02|h03)$")
    runs.append(second)
    code, report = second.finish()
    assert code == 3, second.output()
    owner, run_id = held["h02"].owner, held["h02"].run_id
    assert f"h02: held by {owner} (run {run_id})" in second.output()
    assert "h03" not in [h.host for h in holders(lab) if h.holder.run_id != run_id]
    assert report["steps"][0]["results"] == {} and "h02" in report["locks"]["refused"]
    code, report = first.finish()
    assert code == 0, first.output()
    assert report["locks"]["hosts"] == ["h01", "h02"] and report["locks"]["run_id"] == run_id
    # the lease names the run as its run folder does, so `runbook show RUN` finds it
    assert run_id == report["run_id"] and f"run {run_id}: recording in" in first.output()
    assert holders(lab) == []


def test_second_run_waits_and_runs_after_the_first(lab: Path, tmp_path: Path,
                                                   runs: list[ApplyRun]) -> None:
    first = ApplyRun(tmp_path, "first", lab, "^(h01|h02)$")
    runs.append(first)
    wait_locked(lab, {"h01", "h02"})
    second = ApplyRun(tmp_path, "second", lab, "^(h02|h03)$", "--lock-wait", "60")
    runs.append(second)
    second.go()  # its own step need not wait: only the lock holds it back
    second.wait_output("waiting up to 60s for hosts locked by someone else")
    assert "h02: held by" in second.output()
    # the second is waiting: it took nothing (not even the free h03: all or nothing)
    assert "h03" not in {h.host for h in holders(lab)}
    code_1, report_1 = first.finish()
    code_2, report_2 = second.finish()
    assert (code_1, code_2) == (0, 0), first.output() + second.output()
    assert report_2["locks"]["waited_s"] > 0
    assert report_2["steps"][0]["started"] >= report_1["steps"][-1]["ended"]


def test_no_lock_runs_anyway_and_says_so(lab: Path, tmp_path: Path,
                                         runs: list[ApplyRun]) -> None:
    first = ApplyRun(tmp_path, "first", lab, "^h01$")
    runs.append(first)
    wait_locked(lab, {"h01"})
    glass = ApplyRun(tmp_path, "glass", lab, "^h01$", "--no-lock")
    runs.append(glass)
    code, report = glass.finish()
    assert code == 0, glass.output()
    assert report["locks"] == {"backend": "none", "namespace": "", "hosts": ["h01"],
                               "waited_s": 0.0, "skipped": True, "lost": None}
    assert "--no-lock: running without lab locks (break-glass)" in glass.output()
    assert "locks: none taken (--no-lock, break-glass)" in recap(glass.output())
    shown = show_run(tmp_path / "runs", report["run_id"])
    assert "locks    none taken (--no-lock, break-glass)" in shown, shown
    code, report = first.finish()
    assert code == 0 and report["locks"]["skipped"] is False
    assert "locks:" not in recap(first.output())


def recap(output: str) -> list[str]:
    """The recap's lines: from `recap` to the run's status line (`success in 0.12s`)."""
    lines = output.splitlines()
    start = lines.index("recap")
    end = next(i for i, line in enumerate(lines) if i > start and " in " in line
               and line.split()[0] in ("success", "failed", "interrupted"))
    return lines[start:end + 1]


def test_own_manual_reservation_is_usable_others_are_not(lab: Path, tmp_path: Path,
                                                         runs: list[ApplyRun]) -> None:
    reserve = subprocess.run(
        [sys.executable, "-m", "runbook", "lock", "h01", "--for", "1h", "--lab", str(lab),
         "--note", "my bench"], cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert reserve.returncode == 0, reserve.stderr
    mine = ApplyRun(tmp_path, "mine", lab, "^h01$")
    runs.append(mine)
    assert mine.finish()[0] == 0, mine.output()
    theirs = ApplyRun(tmp_path, "theirs", lab, "^h01$", env={"RUNBOOK_LOCK_USER": "bob"})
    runs.append(theirs)
    assert theirs.finish()[0] == 3
    assert "(manual reservation)" in theirs.output() and 'note "my bench"' in theirs.output()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_locks_are_released_on_signals(lab: Path, tmp_path: Path, runs: list[ApplyRun],
                                       sig: signal.Signals) -> None:
    run = ApplyRun(tmp_path, "run", lab, "^(h01|h02)$")
    runs.append(run)
    wait_locked(lab, {"h01", "h02"})
    run.wait_output("hold until the test says go")
    run.process.send_signal(sig)
    assert run.process.wait(timeout=DEADLINE) == 130, run.output()
    assert holders(lab) == []  # released, not expired: the TTL is 30 s


def test_failure_and_fail_fast_release(lab: Path, sshd_lab: SshdLab, tmp_path: Path) -> None:
    book = tmp_path / "fails.yml"
    book.write_text('name: fails\nsteps:\n  - hosts: "^(h01|h02)$"\n    run: "false"\n')
    for extra in ([], ["--fail-fast"]):
        proc = subprocess.run(
            [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(lab), *extra],
            cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert holders(lab) == []


def test_interrupted_while_waiting_for_locks_exits_130(lab: Path, tmp_path: Path,
                                                     runs: list[ApplyRun]) -> None:
    first = ApplyRun(tmp_path, "first", lab, "^h01$")
    runs.append(first)
    wait_locked(lab, {"h01"})
    second = ApplyRun(tmp_path, "second", lab, "^h01$", "--lock-wait", "600")
    runs.append(second)
    second.wait_output("waiting up to 600s")
    second.process.send_signal(signal.SIGINT)
    code, report = second.finish()
    assert code == 130, second.output()
    assert report["status"] == "interrupted"
    assert first.finish()[0] == 0
