"""Run folders written by the real `runbook apply` (subprocess) against the OpenSSH lab.

Success, failure, SIGTERM and `kill -9`: what the folder holds each time, that no file of it
holds the secret, and what `runbook runs` / `runbook show` make of it; retention.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runbook.records import list_runs, read_journal, report_from_journal
from tests.report.test_html import parse, render_dom
from tests.sshlab import SshdLab
from tests.test_apply_sshd import marker_pids, wait_no_marker

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "schemas" / "report.schema.json").read_text())
FILES = ["hosts", "journal.jsonl", "junit.xml", "report.html", "report.json"]


@pytest.fixture
def lab_file(sshd_lab: SshdLab, tmp_path: Path) -> Path:
    return sshd_lab.lab_yaml(tmp_path / "lab.yml")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RUNBOOK_RUNS_DIR"}
    env["PYTHONPATH"] = str(REPO)  # the code under test, whatever the current folder
    env.update(extra)
    return env


def runbook(*args: str, cwd: Path, timeout: float = 90,
            **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runbook", *args], cwd=cwd, env=_env(**env),
                          capture_output=True, text=True, timeout=timeout, check=False)


def start(*args: str, cwd: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "runbook", *args], cwd=cwd, env=_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def write_book(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"book-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(text)
    return path


def only_run(runs_dir: Path) -> Path:
    runs = list_runs(runs_dir)
    assert len(runs) == 1, runs
    return runs[0].path


def report_of(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "report.json").read_text())
    jsonschema.validate(data, SCHEMA)
    return data


def assert_nowhere(secret: str, folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def wait_for_markers(proc: subprocess.Popen[str], marker: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(marker_pids(marker)) < count and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        time.sleep(0.1)
    assert len(marker_pids(marker)) >= count


def test_blocks_and_loops_are_recorded_with_their_paths_and_items(lab_file: Path,
                                                                 tmp_path: Path) -> None:
    book = write_book(tmp_path, """
name: nested
steps:
  - name: upgrade
    hosts: "^h0[1-3]$"
    block:
      - name: per port
        loop: [eth0, eth1]
        loop_var: port
        run: test {{ host.id }}-{{ port }} != h02-eth1
    rescue:
      - name: roll back
        run: echo "rolled back after {{ failed_step }}"
    always:
      - name: cleanup
        run: echo clean
  - name: after
    hosts: "^h0[1-3]$"
    loop: "{{ ['a', 'b'] }}"
    run: echo {{ item }}
""")
    proc = runbook("apply", str(book), "--lab", str(lab_file), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # h02 failed, its rescue recovered
    folder = only_run(tmp_path / ".runbook" / "runs")
    report = report_of(folder)  # valid per schemas/report.schema.json
    ports, rollback = report["steps"][0], report["steps"][1]
    assert ports["path"] == "block 'upgrade' > per port"
    assert rollback["path"] == "block 'upgrade'/rescue > roll back"
    h02 = ports["results"]["h02"]
    assert h02["status"] == "failed" and h02["rescued"] is True
    assert [(i["item"], i["status"]) for i in h02["items"]] == [("eth0", "success"),
                                                                 ("eth1", "failed")]
    assert h02["command"].splitlines() == ["[eth0] run: test h02-eth0 != h02-eth1",
                                           "[eth1] run: test h02-eth1 != h02-eth1"]
    assert report["rescued"] == {"h02": 1}

    # the journal alone rebuilds the same tree (what `runbook show` uses for a killed run)
    rebuilt = report_from_journal(read_journal(folder / "journal.jsonl"))
    jsonschema.validate(rebuilt, SCHEMA)
    assert [s.get("path") for s in rebuilt["steps"]] == [s.get("path") for s in report["steps"]]
    assert rebuilt["steps"][0]["results"]["h02"]["items"] == h02["items"]
    assert rebuilt["rescued"] == {"h02": 1}

    dom = parse(render_dom(folder / "report.html", tmp_path, "?cell=h02|2"))
    assert list(dom.rows) == ["h01", "h02", "h03"]
    assert not dom.rows["h02"]["failed"]  # recovered by its rescue
    assert [s for s, _ in dom.rows["h02"]["cells"]] == ["failed", "success", "success",
                                                        "success"]
    assert "s-ignored" in dom.rows["h02"]["cells"][0][1]
    assert dom.rows["h01"]["cells"][1][0] == "skipped"
    assert dom.texts["detail-title"] == "h02 / 2. block 'upgrade'/rescue > roll back"
    assert dom.texts.get("detail-output", "").startswith("rolled back after per port")

    shown = runbook("show", folder.name, "--host", "h02", "--step", "1", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "item     [eth1] failed" in shown.stdout
    assert "block 'upgrade' > per port on h02" in shown.stdout


def test_success_and_failure_folders_hold_everything_masked(lab_file: Path,
                                                           tmp_path: Path) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    book = write_book(tmp_path, """
name: recorded
steps:
  - name: hello
    hosts: "^h0[1-4]$"
    run: echo "token={{ secret('TOKEN') }} on {{ host.id }}"
    register: hello
  - name: break h03
    hosts: "^h0[1-4]$"
    run: test {{ host.id }} != h03
""")
    proc = runbook("apply", str(book), "--lab", str(lab_file), "-e", f"note={secret}",
                   cwd=tmp_path, RUNBOOK_SECRET_TOKEN=secret)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    folder = only_run(tmp_path / ".runbook" / "runs")  # the default place, under the cwd
    run_id = folder.name
    assert proc.stdout.count(f"run {run_id}") == 2  # at the start and after the recap
    assert sorted(p.name for p in folder.iterdir()) == FILES
    report = report_of(folder)
    assert report["status"] == "failed" and report["run_id"] == run_id
    assert report["steps"][1]["results"]["h03"]["status"] == "failed"
    assert ET.parse(folder / "junit.xml").getroot().get("failures") == "1"
    records = read_journal(folder / "journal.jsonl")
    assert records[0]["event"] == "run_start" and records[0]["extra_vars"] == ["note=***"]
    assert records[0]["lab_path"] == str(lab_file) and len(records[0]["runbook_sha256"]) == 64
    hello = [r for r in records if r["event"] == "host_result" and r["step"] == 0]
    assert {r["host"]: r["registered"]["output"] for r in hello} == {
        f"h0{i}": f"token=*** on h0{i}\n" for i in range(1, 5)}
    assert records[-1] == {**records[-1], "event": "run_end", "status": "failed"}
    assert_nowhere(secret, folder)
    assert secret not in proc.stdout + proc.stderr

    ok_book = write_book(tmp_path, 'name: fine\nsteps:\n  - {hosts: "^h0[1-4]$", run: "true"}\n')
    proc = runbook("apply", str(ok_book), "--lab", str(lab_file), "--runs-dir", "elsewhere",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report_of(only_run(tmp_path / "elsewhere"))["status"] == "success"
    proc = runbook("apply", str(ok_book), "--lab", str(lab_file), "--no-record", cwd=tmp_path,
                   RUNBOOK_RUNS_DIR=str(tmp_path / "elsewhere"))
    assert proc.returncode == 0 and "recorded" not in proc.stdout
    assert len(list_runs(tmp_path / "elsewhere")) == 1

    listing = runbook("runs", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    row = listing.stdout.splitlines()[1].split()
    assert row[0] == run_id and row[1] == "recorded" and row[-2:] == ["failed", "3/1"]
    shown = runbook("show", run_id[:12], "--host", "h03", "--step", "2", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "status   failed, exit status 1" in shown.stdout
    assert "command:\nrun: test h03 != h03\n" in shown.stdout


def test_sigterm_leaves_a_complete_interrupted_folder(lab_file: Path, tmp_path: Path) -> None:
    marker = f"rec-term-{uuid.uuid4().hex}"
    book = write_book(tmp_path, f"""
name: stopped
steps:
  - name: long
    hosts: "^h0[5-8]$"
    run: sh -c 'sleep 60; echo {marker}'
  - name: after
    hosts: "^h0[5-8]$"
    run: echo never
""")
    proc = start("apply", str(book), "--lab", str(lab_file), "--runs-dir", "runs", cwd=tmp_path)
    try:
        wait_for_markers(proc, marker, 4)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    folder = only_run(tmp_path / "runs")
    assert sorted(p.name for p in folder.iterdir()) == FILES
    assert report_of(folder)["status"] == "interrupted"
    records = read_journal(folder / "journal.jsonl")
    assert records[-1]["event"] == "run_end" and records[-1]["status"] == "interrupted"
    assert {r["result"]["message"] for r in records if r["event"] == "host_result"} == {
        "interrupted"}
    assert '"status":"interrupted"' in (folder / "report.html").read_text()
    assert wait_no_marker(marker) == []


def test_journal_survives_kill_9_and_show_rebuilds_the_run(lab_file: Path,
                                                          tmp_path: Path) -> None:
    marker = f"rec-kill-{uuid.uuid4().hex}"
    book = write_book(tmp_path, f"""
name: killed
steps:
  - name: first
    hosts: "^(h09|h1[0-2])$"
    run: echo first {{{{ host.id }}}}
    register: first
  - name: quick
    hosts: h09
    run: echo quick
  - name: stuck
    hosts: "^h1[0-2]$"
    run: sh -c 'sleep 60; echo {marker}'
""")
    proc = start("apply", str(book), "--lab", str(lab_file), "--runs-dir", "runs", cwd=tmp_path)
    try:
        wait_for_markers(proc, marker, 3)
        proc.kill()  # SIGKILL: no handler, no report, no run end
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in marker_pids(marker):  # the remote sleeps we started, if sshd kept them
            subprocess.run(["kill", pid], check=False)
    folder = only_run(tmp_path / "runs")
    assert not (folder / "report.json").exists()
    records = read_journal(folder / "journal.jsonl")
    kinds = [r["event"] for r in records]
    assert "run_end" not in kinds and kinds.count("step_start") == 3
    done = {(r["step"], r["host"]): r for r in records if r["event"] == "host_result"}
    assert sorted(done) == [(0, "h09"), (0, "h10"), (0, "h11"), (0, "h12"), (1, "h09")]
    assert done[0, "h11"]["registered"]["output"] == "first h11\n"

    shown = runbook("show", "last", "--runs-dir", "runs", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "status   unfinished" in shown.stdout
    data = json.loads(runbook("show", str(folder), "--format", "json", cwd=tmp_path).stdout)
    assert data["status"] == "unfinished" and data["run_id"] == folder.name
    assert data["steps"][2]["results"] == {}
    assert data["hosts"]["h09"]["success"] == 2
    listing = runbook("runs", "--runs-dir", "runs", cwd=tmp_path).stdout
    assert "unfinished" in listing.splitlines()[1]


def test_keep_runs_prunes_the_oldest(lab_file: Path, tmp_path: Path) -> None:
    book = write_book(tmp_path, 'name: tiny\nsteps:\n  - {hosts: h13, run: "true"}\n')
    ids = []
    for _ in range(3):
        proc = runbook("apply", str(book), "--lab", str(lab_file), "--runs-dir", "runs",
                       "--keep-runs", "2", cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        ids.append(json.loads((sorted((tmp_path / "runs").iterdir())[-1] /
                               "report.json").read_text())["run_id"])
    assert [r.run_id for r in list_runs(tmp_path / "runs")] == ids[1:]
    (tmp_path / "runs" / "my-notes").mkdir()  # not a run: never pruned, never listed
    proc = runbook("apply", str(book), "--lab", str(lab_file), "--runs-dir", "runs",
                   "--keep-runs", "1", cwd=tmp_path)
    assert proc.returncode == 0
    assert len(list_runs(tmp_path / "runs")) == 1 and (tmp_path / "runs" / "my-notes").is_dir()
    assert "my-notes" not in runbook("runs", "--runs-dir", "runs", cwd=tmp_path).stdout
