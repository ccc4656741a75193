"""The language's part 2 end to end against the real OpenSSH lab (20+ loopback hosts):
include, loop, block / rescue / always, batches with max_failed, tags and --start-at-step.

Every run is the real CLI as a subprocess, judged by its exit code, its JSON report
(timestamps show order and overlap) and, for cleanup, by files the hosts' commands leave.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.sshlab import SshdLab
from tests.test_apply_sshd import (
    HOSTS_20,
    IDS_20,
    REPO,
    SCHEMA,
    apply,
    marker_pids,
)


@pytest.fixture
def lab_file(sshd_lab: SshdLab, tmp_path: Path) -> Path:
    return sshd_lab.lab_yaml(tmp_path / "lab.yml")


def by_name(report: dict[str, Any], name: str) -> dict[str, Any]:
    """The one step of the report named `name` (its results per host)."""
    [step] = [s for s in report["steps"] if s["name"] == name]
    return step


def statuses(step: dict[str, Any]) -> dict[str, str]:
    return {h: r["status"] for h, r in step["results"].items()}


def test_include_with_vars_narrowed_hosts_and_nesting(lab_file: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "files").mkdir()
    (lib / "files" / "fw.txt").write_text("firmware {{ image }}\n")
    (lib / "flash.yml").write_text(f"""
- name: upload
  put: {{src: files/fw.txt, dest: "{tmp_path}/up/{{{{ host.id }}}}", template: true}}
- name: flash
  run: echo flash {{{{ image }}}} on {{{{ host.id }}}}
- include: verify.yml
  vars: {{check: sha}}
""")
    (lib / "verify.yml").write_text("""
name: verify library
vars: {check: none, image: default}
steps:
  - name: verify
    hosts: "[02468]$"
    run: echo verify {{ image }} {{ check }}
""")
    proc, report = apply(tmp_path, lab_file, f"""
name: includes
steps:
  - include: lib/flash.yml
    hosts: "^h0[1-6]$"
    vars: {{image: v2}}
  - name: everyone
    hosts: "{HOSTS_20}"
    run: echo done
""")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    flash = by_name(report, "flash")
    assert list(flash["results"]) == [f"h0{i}" for i in range(1, 7)]
    assert flash["results"]["h03"]["output"] == "flash v2 on h03\n"
    assert flash["path"] == "include lib/flash.yml > flash"
    verify = by_name(report, "verify")
    # narrowed by both levels: ^h0[1-6]$ from the outer include, [02468]$ from the step
    assert list(verify["results"]) == ["h02", "h04", "h06"]
    assert {r["output"] for r in verify["results"].values()} == {"verify v2 sha\n"}
    assert [f["kind"] for f in verify["frames"]] == ["include", "include"]
    assert verify["location"].endswith("verify.yml:5:5")
    assert len(by_name(report, "everyone")["results"]) == 20
    # a put source in an included file is relative to that file's folder
    assert (tmp_path / "up" / "h04" / "fw.txt").read_text() == "firmware v2\n"


def test_include_cycle_is_a_finding_naming_the_chain(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("name: a\nsteps:\n  - include: lib/b.yml\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "b.yml").write_text("- include: ../a.yml\n")
    proc = subprocess.run([sys.executable, "-m", "runbook", "validate", "a.yml"], cwd=tmp_path,
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 1  # validate: 1 when a file has findings
    assert "lib/b.yml:1:12: step 1: include cycle: a.yml:3:5 -> lib/b.yml:1:3 -> ../a.yml" \
        in proc.stdout, proc.stdout


def test_loop_with_register_and_per_item_when(lab_file: Path, tmp_path: Path) -> None:
    proc, report = apply(tmp_path, lab_file, """
name: loops
vars: {ports: [22, 80, 443]}
steps:
  - name: probe
    hosts: "^h0[1-3]$"
    loop: ports
    loop_var: port
    when: port != 80 or host.id == 'h02'
    run: echo port {{ port }}
    register: probed
  - name: count
    hosts: "^h0[1-3]$"
    run: >-
      echo {{ probed.results | selectattr('status', 'eq', 'success') | list | length }}
      {{ probed.failed }}
  - name: static list
    hosts: "^h01$"
    loop: [a, "{{ host.id }}"]
    run: "test {{ item }} = a"
""")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    probe = by_name(report, "probe")["results"]
    assert [i["status"] for i in probe["h01"]["items"]] == ["success", "skipped", "success"]
    assert [i["item"] for i in probe["h02"]["items"]] == ["22", "80", "443"]
    assert probe["h02"]["output"] == "[22] port 22\n[80] port 80\n[443] port 443\n"
    counted = by_name(report, "count")["results"]
    assert counted["h01"]["output"] == "2 False\n" and counted["h02"]["output"] == "3 False\n"
    static = by_name(report, "static list")["results"]["h01"]
    assert static["status"] == "failed"
    assert [i["status"] for i in static["items"]] == ["success", "failed"]
    assert "1 of 2 items failed: h01" in static["message"]


def test_rescue_recovers_a_host_and_always_runs_everywhere(lab_file: Path,
                                                           tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    proc, report = apply(tmp_path, lab_file, f"""
name: rescue
steps:
  - name: upgrade
    hosts: "{HOSTS_20}"
    block:
      - name: install
        run: test {{{{ host.id }}}} != h02 && test {{{{ host.id }}}} != h07
      - name: verify
        run: echo verified
    rescue:
      - name: roll back
        run: >-
          echo rollback after {{{{ failed_step }}}} / {{{{ failed_message }}}};
          test {{{{ host.id }}}} != h07
    always:
      - name: cleanup
        run: echo cleanup
  - name: after
    hosts: "{HOSTS_20}"
    run: echo after
""", "--junit", str(junit))
    assert proc.returncode == 1, proc.stdout  # h07's rescue failed
    install = statuses(by_name(report, "install"))
    assert install["h02"] == "failed" and install["h01"] == "success"
    assert by_name(report, "install")["results"]["h02"]["rescued"] is True
    verify = statuses(by_name(report, "verify"))
    assert verify["h02"] == verify["h07"] == "skipped" and verify["h01"] == "success"
    rollback = by_name(report, "roll back")["results"]
    assert {h for h, r in rollback.items() if r["status"] != "skipped"} == {"h02", "h07"}
    assert rollback["h02"]["output"] == "rollback after install / exit status 1\n"
    assert set(statuses(by_name(report, "cleanup")).values()) == {"success"}
    after = statuses(by_name(report, "after"))
    assert after["h02"] == "success"  # recovered
    assert after["h07"] == "skipped"  # rescue failed: out of the run
    assert report["rescued"] == {"h02": 1}
    assert by_name(report, "cleanup")["path"] == "block 'upgrade'/always > cleanup"
    suites = {s.get("name"): s for s in ET.parse(junit).getroot().findall("testsuite")}
    install = suites["01 block 'upgrade' > install"]
    assert install.find("testcase[@name='h02']/failure") is None  # rescued: a passing case
    assert install.find("testcase[@name='h07']/failure") is not None
    [case] = suites["03 block 'upgrade'/rescue > roll back"].findall("testcase[@name='h02']")
    assert case.get("classname") == "rescue.block 'upgrade'/rescue > roll back"


def test_a_recovered_failure_does_not_fail_the_run(lab_file: Path, tmp_path: Path) -> None:
    proc, report = apply(tmp_path, lab_file, """
name: recovered
steps:
  - hosts: "^h0[1-4]$"
    block:
      - name: flaky
        run: test {{ host.id }} != h03
    rescue:
      - name: fix
        run: "true"
""")
    assert proc.returncode == 0, proc.stdout
    assert report["status"] == "success" and report["rescued"] == {"h03": 1}
    assert "rescued (failed in a block, recovered by its rescue): h03" in proc.stdout


def test_always_runs_after_fail_fast(lab_file: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    proc, report = apply(tmp_path, lab_file, f"""
name: halted
fail_fast: true
steps:
  - name: work
    hosts: "{HOSTS_20}"
    block:
      - name: breaks
        run: test {{{{ host.id }}}} != h05
      - name: more work
        run: echo more
    always:
      - name: cleanup
        run: touch {marks}/{{{{ host.id }}}}
  - name: after
    hosts: "{HOSTS_20}"
    run: echo after
""")
    assert proc.returncode == 1, proc.stdout
    cleanup = by_name(report, "cleanup")["results"]
    entered = set(by_name(report, "breaks")["results"])
    ran = {h for h, r in cleanup.items() if r["status"] == "success"}
    assert ran == entered and "h05" in ran
    assert {p.name for p in marks.iterdir()} == ran
    assert set(statuses(by_name(report, "more work")).values()) == {"skipped"}
    assert set(statuses(by_name(report, "after")).values()) == {"skipped"}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["SIGINT", "SIGHUP"])
def test_always_runs_after_a_signal_to_apply(lab_file: Path, tmp_path: Path,
                                             sig: signal.Signals) -> None:
    marker = f"blk-{uuid.uuid4().hex}"
    marks = tmp_path / "marks"
    marks.mkdir()
    book = tmp_path / "book.yml"
    book.write_text(f"""
name: interrupted block
steps:
  - name: maintenance
    hosts: "{HOSTS_20}"
    block:
      - name: long
        run: sh -c 'sleep 60; echo {marker}'
    always:
      - name: restore
        run: echo restored > {marks}/{{{{ host.id }}}}
  - name: after
    hosts: "{HOSTS_20}"
    run: echo never
""")
    report = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(lab_file),
         "--report-json", str(report)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(marker_pids(marker)) < 20 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.1)
        assert len(marker_pids(marker)) >= 20
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert sorted(p.name for p in marks.iterdir()) == IDS_20
    assert {p.read_text() for p in marks.iterdir()} == {"restored\n"}
    data = json.loads(report.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["status"] == "interrupted"
    assert set(statuses(by_name(data, "long")).values()) == {"error"}
    assert set(statuses(by_name(data, "restore")).values()) == {"success"}
    assert set(statuses(by_name(data, "after")).values()) == {"skipped"}
    assert "always" in out


def test_batches_never_overlap(lab_file: Path, tmp_path: Path) -> None:
    proc, report = apply(tmp_path, lab_file, f"""
name: rolling
batch: [1, 5, "50%"]
steps:
  - name: drain
    hosts: "{HOSTS_20}"
    run: sleep 0.2
  - name: upgrade
    hosts: "{HOSTS_20}"
    run: sleep 0.2
""")
    assert proc.returncode == 0, proc.stdout
    batches = report["batches"]
    assert [len(b["hosts"]) for b in batches] == [1, 5, 10, 4]
    assert [h for b in batches for h in b["hosts"]] == IDS_20
    spans = []
    for batch in batches:
        results = [s["results"][h] for s in report["steps"] for h in batch["hosts"]]
        spans.append((min(r["started"] for r in results), max(r["ended"] for r in results)))
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start
    # within a batch, steps stay barriers
    for batch in batches:
        drain_end = max(report["steps"][0]["results"][h]["ended"] for h in batch["hosts"])
        upgrade_start = min(report["steps"][1]["results"][h]["started"] for h in batch["hosts"])
        assert drain_end <= upgrade_start
    assert "batch 2/4: h02, h03, h04, h05, h06" in proc.stdout


def test_max_failed_stops_further_batches(lab_file: Path, tmp_path: Path) -> None:
    proc, report = apply(tmp_path, lab_file, f"""
name: rolling with failures
batch: 4
max_failed: 1
steps:
  - name: upgrade
    hosts: "{HOSTS_20}"
    run: test {{{{ host.id }}}} != h02 && test {{{{ host.id }}}} != h06
  - name: verify
    hosts: "{HOSTS_20}"
    run: echo ok
""")
    assert proc.returncode == 1, proc.stdout
    batches = report["batches"]
    assert [b.get("not_started") is None for b in batches] == [True, True, False, False, False]
    assert "2 host(s) failed (h02, h06), more than max_failed 1" in batches[2]["not_started"]
    upgrade = by_name(report, "upgrade")["results"]
    assert all(upgrade[h]["status"] == "success" for h in ("h01", "h03", "h05", "h08"))
    assert upgrade["h09"]["status"] == "skipped"
    assert "batch not started" in upgrade["h09"]["message"]
    assert "batch 3/5 and 2 later not started" in proc.stdout


def test_tags_and_start_at_step(lab_file: Path, tmp_path: Path) -> None:
    book = """
name: tagged
steps:
  - name: prepare
    hosts: "^h01$"
    tags: prep
    run: echo prep
  - name: main
    hosts: "^h01$"
    tags: [work]
    block:
      - name: first
        run: echo first
      - name: second
        run: echo second
    always:
      - name: tidy
        run: echo tidy
  - name: audit
    hosts: "^h01$"
    tags: always
    run: echo audit
  - name: report
    hosts: "^h01$"
    run: echo report
"""
    proc, report = apply(tmp_path, lab_file, book, "--tags", "work")
    assert proc.returncode == 0, proc.stdout
    assert [s["name"] for s in report["steps"]] == ["first", "second", "tidy", "audit"]
    proc, report = apply(tmp_path, lab_file, book, "--skip-tags", "work,always")
    assert [s["name"] for s in report["steps"]] == ["prepare", "report"]
    proc, report = apply(tmp_path, lab_file, book, "--start-at-step", "second")
    assert [s["name"] for s in report["steps"]] == ["second", "tidy", "audit", "report"]
    assert set(statuses(report["steps"][0]).values()) == {"success"}
    path = tmp_path / "book.yml"
    path.write_text(book)
    wrong = subprocess.run(
        [sys.executable, "-m", "runbook", "apply", str(path), "--lab", str(lab_file),
         "--tags", "wrok"], cwd=REPO, capture_output=True, text=True, check=False, timeout=60)
    assert wrong.returncode == 2
    assert "no step has the tag 'wrok'; did you mean 'work'?" in wrong.stdout + wrong.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "runbook", "apply", str(path), "--list-steps"], cwd=REPO,
        capture_output=True, text=True, check=False, timeout=60)
    assert listed.returncode == 0
    assert "block 'main'" in listed.stdout and "tidy  [work]" in listed.stdout


def test_nested_blocks_pass_failures_outward_and_block_batches(lab_file: Path,
                                                               tmp_path: Path) -> None:
    proc, report = apply(tmp_path, lab_file, """
name: nested
steps:
  - name: before
    hosts: "^h0[1-6]$"
    run: sleep 0.1
  - name: outer
    hosts: "^h0[1-6]$"
    batch: 2
    max_failed: 1
    block:
      - name: inner
        block:
          - name: risky
            run: test {{ host.id }} != h03
        always:
          - name: inner tidy
            run: echo tidy
      - name: outer work
        run: sleep 0.1
    rescue:
      - name: outer rescue
        run: echo rescued {{ failed_step }}
  - name: after
    hosts: "^h0[1-6]$"
    run: echo after
""")
    assert proc.returncode == 0, proc.stdout
    # h03 failed in the inner block (no rescue there): inner always ran, then the failure
    # moved out to the outer block, whose rescue recovered it
    assert statuses(by_name(report, "inner tidy"))["h03"] == "success"
    assert statuses(by_name(report, "outer work"))["h03"] == "skipped"
    rescue = by_name(report, "outer rescue")["results"]
    assert rescue["h03"]["output"] == "rescued risky\n"
    assert {h for h, r in rescue.items() if r["status"] == "success"} == {"h03"}
    assert report["rescued"] == {"h03": 1}
    assert set(statuses(by_name(report, "after")).values()) == {"success"}
    # the block's batches: 3 of 2 hosts, never overlapping; steps outside are not batched
    assert [b["hosts"] for b in report["batches"]] == [["h01", "h02"], ["h03", "h04"],
                                                       ["h05", "h06"]]
    assert {b["block"] for b in report["batches"]} == {"outer"}
    block_steps = [s for s in report["steps"] if s.get("frames")]
    spans = [(min(s["results"][h]["started"] for s in block_steps for h in b["hosts"]),
              max(s["results"][h]["ended"] for s in block_steps for h in b["hosts"]))
             for b in report["batches"]]
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))
    before = by_name(report, "before")["results"]
    assert max(r["started"] for r in before.values()) < min(r["ended"] for r in before.values())


def test_a_second_signal_abandons_the_always_steps(lab_file: Path, tmp_path: Path) -> None:
    work, tidy = f"work-{uuid.uuid4().hex}", f"tidy-{uuid.uuid4().hex}"
    book = tmp_path / "book.yml"
    book.write_text(f"""
name: stubborn cleanup
steps:
  - hosts: "^h0[1-4]$"
    block:
      - name: long
        run: sh -c 'sleep 60; echo {work}'
    always:
      - name: slow cleanup
        timeout: 120
        run: sh -c 'sleep 60; echo {tidy}'
""")
    report = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(lab_file),
         "--report-json", str(report)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for marker in (work, tidy):
            deadline = time.monotonic() + 60
            while len(marker_pids(marker)) < 4 and time.monotonic() < deadline:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.1)
            assert len(marker_pids(marker)) >= 4
            proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    data = json.loads(report.read_text())
    assert data["status"] == "interrupted"
    assert "SIGINT again" in out
    cleanup = by_name(data, "slow cleanup")["results"]
    assert set(cleanup) == {"h01", "h02", "h03", "h04"}
    assert {r["status"] for r in cleanup.values()} == {"error"}


@pytest.fixture(autouse=True)
def _no_leftover_markers() -> Iterator[None]:
    """A second signal exits at once, leaving the remote `sleep` of an abandoned step to run
    out on the (loopback) host: end those of this module's markers by pid afterwards."""
    yield
    for pid in marker_pids("(work|tidy)-[0-9a-f]{32}"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
