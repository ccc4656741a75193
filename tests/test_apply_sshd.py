"""`runbook apply` end to end against the real OpenSSH lab (20+ loopback hosts).

Every test runs the real CLI as a subprocess and judges it by its exit code and its JSON /
JUnit reports (timestamps, not durations, show overlap and order).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.sshlab import SshdLab

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "schemas" / "report.schema.json").read_text())
HOSTS_20 = "^h(0[1-9]|1[0-9]|20)$"
IDS_20 = [f"h{i:02d}" for i in range(1, 21)]


def apply(tmp_path: Path, lab: Path, book: str, *args: str,
          timeout: float = 90) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Write `book`, run `runbook apply` on it with a JSON report; (process, report)."""
    path = tmp_path / f"book-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(book)
    report = tmp_path / "report.json"
    report.unlink(missing_ok=True)
    # no COLUMNS (something in the test session may set it): console lines are not wrapped,
    # as in a CI log, so a host's line holds its message
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.run(
        [sys.executable, "-m", "runbook", "apply", str(path), "--lab", str(lab),
         "--report-json", str(report), *args],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
    assert report.exists(), proc.stdout + proc.stderr
    data: dict[str, Any] = json.loads(report.read_text())
    jsonschema.validate(data, SCHEMA)
    return proc, data


def results(report: dict[str, Any], step: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = report["steps"][step]["results"]
    return out


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = current = 0
    for _, delta in edges:
        current += delta
        best = max(best, current)
    return best


def marker_pids(marker: str) -> list[str]:
    """Pids whose command line holds `marker` (the `sh -c 'sleep 60; echo MARKER'` of a step,
    a controller's sleep) and the other processes of their groups: a oneshot's or power
    command's shell reads the command on stdin, so its own command line does not show it."""
    found = subprocess.run(["pgrep", "-f", marker], check=False, capture_output=True, text=True)
    pids = set(found.stdout.split())
    for pid in list(pids):
        with contextlib.suppress(ProcessLookupError):
            group = subprocess.run(["pgrep", "-g", str(os.getpgid(int(pid)))], check=False,
                                   capture_output=True, text=True)
            pids.update(group.stdout.split())
    return sorted(pids)


def wait_no_marker(marker: str, deadline_s: float = 10.0) -> list[str]:
    deadline = time.monotonic() + deadline_s
    pids = marker_pids(marker)
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = marker_pids(marker)
    return pids


@pytest.fixture
def lab_file(sshd_lab: SshdLab, tmp_path: Path) -> Path:
    return sshd_lab.lab_yaml(tmp_path / "lab.yml")


def test_regex_targeting_and_shared_shell_state(lab_file: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    book = f"""
name: state
steps:
  - name: enter
    hosts: "{HOSTS_20}"
    run:
      - mkdir -p {work}/{{{{ host.id }}}}
      - cd {work}/{{{{ host.id }}}}
      - export WHO={{{{ host.id }}}}
  - name: use
    hosts: "{HOSTS_20}"
    run: echo "$WHO $(basename $PWD)"
  - name: odd only
    hosts: "^h(0[13579]|1[13579])$"
    oneshot: echo odd
"""
    proc, report = apply(tmp_path, lab_file, book)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["status"] == "success"
    assert list(results(report, 0)) == IDS_20
    for host_id in IDS_20:
        assert results(report, 1)[host_id]["output"] == f"{host_id} {host_id}\n"
    assert list(results(report, 2)) == [f"h{i:02d}" for i in range(1, 20, 2)]


def test_overlap_when_concurrent_none_when_serial_and_n_bound(lab_file: Path,
                                                              tmp_path: Path) -> None:
    book = f"""
name: timing
steps:
  - name: connect
    hosts: "{HOSTS_20}"
    run: "true"
  - name: together
    hosts: "{HOSTS_20}"
    run: sleep 0.5
  - name: one by one
    hosts: "^h0[1-6]$"
    concurrent: false
    run: sleep 0.1
  - name: three at a time
    hosts: "^h(0[1-9]|1[0-2])$"
    concurrent: 3
    run: sleep 0.2
"""
    proc, report = apply(tmp_path, lab_file, book)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    together = [(r["started"], r["ended"]) for r in results(report, 1).values()]
    assert len(together) == 20
    assert max(s for s, _ in together) < min(e for _, e in together)  # all ran at once
    serial = list(results(report, 2).items())
    assert [h for h, _ in serial] == ["h01", "h02", "h03", "h04", "h05", "h06"]
    for (_, before), (_, after) in itertools.pairwise(serial):
        assert after["started"] >= before["ended"]
    bounded = [(r["started"], r["ended"]) for r in results(report, 3).values()]
    assert len(bounded) == 12
    assert max_overlap(bounded) == 3
    # steps are barriers: nothing of a step starts before the previous one ended everywhere
    for earlier, later in ((1, 2), (2, 3)):
        assert min(r["started"] for r in results(report, later).values()) >= max(
            r["ended"] for r in results(report, earlier).values())


def test_failure_ignore_errors_and_unreachable_hosts(sshd_lab: SshdLab, tmp_path: Path) -> None:
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=IDS_20, extra={"hosts": {
        "dead1": {"address": "127.0.0.250"},
        "dead2": {"address": "127.0.0.251", "connect_timeout": 2},
    }})
    book = """
name: failures
steps:
  - name: h03 fails
    hosts: .
    run: test {{ host.id }} != h03
  - name: h05 fails but is ignored
    hosts: .
    ignore_errors: true
    run: "[ {{ host.id }} != h05 ] || { echo broken; exit 7; }"
  - name: still here
    hosts: .
    oneshot: echo alive
"""
    junit = tmp_path / "junit.xml"
    proc, report = apply(tmp_path, lab, book, "--junit", str(junit))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert report["status"] == "failed"
    first, second, third = results(report, 0), results(report, 1), results(report, 2)
    assert first["h03"]["status"] == "failed" and first["h03"]["rc"] == 1
    assert first["dead1"]["status"] == "unreachable"
    assert first["dead2"]["status"] == "unreachable"
    assert first["dead1"]["message"].startswith(f"127.0.0.250:{sshd_lab.port}: ")
    assert first["h04"]["status"] == "success"
    assert second["h03"]["status"] == "skipped" and second["dead1"]["status"] == "skipped"
    assert second["h05"]["status"] == "failed" and second["h05"]["ignored"] is True
    assert second["h05"]["rc"] == 7 and "broken" in second["h05"]["output"]
    assert third["h05"]["status"] == "success"
    assert third["h03"]["status"] == "skipped"
    assert sum(third[h]["status"] == "success" for h in IDS_20) == 19
    assert report["hosts"]["h03"] == {"success": 0, "failed": 1, "error": 0, "skipped": 2,
                                      "unreachable": 0}
    assert "FAILED" in proc.stdout and "UNREACHABLE" in proc.stdout
    root = ET.parse(junit).getroot()
    assert int(root.get("tests", "0")) == sum(len(s["results"]) for s in report["steps"])
    assert root.find("testsuite/testcase[@name='dead1']/error") is not None
    case = root.findall("testsuite")[0].find("testcase[@name='h03']")
    assert case is not None and case.find("failure") is not None


def test_fail_fast_cancels_running_hosts(lab_file: Path, tmp_path: Path) -> None:
    marker = f"ff-{uuid.uuid4().hex}"
    book = f"""
name: fail fast
steps:
  - name: connect
    hosts: "{HOSTS_20}"
    run: "true"
  - name: one fails quickly, the rest sleep
    hosts: "{HOSTS_20}"
    run: "if [ {{{{ host.id }}}} = h02 ]; then sleep 1; exit 3; fi; sh -c 'sleep 60; echo {marker}'"
  - name: never
    hosts: "{HOSTS_20}"
    run: echo never
"""
    proc, report = apply(tmp_path, lab_file, book, "--fail-fast", timeout=40)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    step = results(report, 1)
    assert step["h02"]["status"] == "failed"
    others = [r for h, r in step.items() if h != "h02"]
    assert others and all(r["status"] == "error" for r in others)
    assert all("fail_fast" in r["message"] for r in others)
    assert {r["status"] for r in results(report, 2).values()} == {"skipped"}
    assert wait_no_marker(marker) == []


def test_when_register_until(lab_file: Path, tmp_path: Path) -> None:
    counters = tmp_path / "counters"
    counters.mkdir()
    book = f"""
name: conditions
steps:
  - name: probe
    hosts: "^h0[1-4]$"
    oneshot: echo {{{{ host.id }}}}
    register: probe
  - name: only h02
    hosts: "^h0[1-4]$"
    when: probe.output | trim == 'h02'
    run: echo picked {{{{ probe.output | trim }}}}
  - name: poll until the third try
    hosts: "^h0[1-4]$"
    run: echo x >> {counters}/{{{{ host.id }}}} && wc -l < {counters}/{{{{ host.id }}}}
    register: tries
    until: tries.output | trim | int >= 3
    retries: 5
    delay: 0
"""
    proc, report = apply(tmp_path, lab_file, book)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    picked = results(report, 1)
    assert picked["h02"]["status"] == "success" and picked["h02"]["output"] == "picked h02\n"
    assert {picked[h]["status"] for h in ("h01", "h03", "h04")} == {"skipped"}
    for host_id, result in results(report, 2).items():
        assert result["status"] == "success"
        assert result["attempts"] == 3
        assert (counters / host_id).read_text().count("x") == 3


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP])
def test_ctrl_c_mid_step_kills_remote_commands_and_writes_report(lab_file: Path, tmp_path: Path,
                                                                 sig: signal.Signals) -> None:
    """Ctrl-C, and SIGHUP (the terminal or the SSH session to the workstation closed), alike."""
    marker = f"int-{uuid.uuid4().hex}"
    book = sleep_book(tmp_path, marker)
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(lab_file),
         "--report-json", str(report), "--junit", str(junit)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(marker_pids(marker)) < 20 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.1)
        assert len(marker_pids(marker)) >= 20
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert_interrupted(report, junit, marker)
    assert "interrupted" in out and f"{sig.name}: stopping" in out


def test_terminal_hangup_mid_step_kills_remote_commands_and_writes_report(
        lab_file: Path, tmp_path: Path) -> None:
    """The terminal itself goes away: runbook's controlling terminal is a pty whose master is
    closed, so the kernel sends SIGHUP and every later write to the terminal fails (EIO)."""
    marker = f"hup-{uuid.uuid4().hex}"
    book = sleep_book(tmp_path, marker)
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(lab_file),
         "--report-json", str(report), "--junit", str(junit)],
        cwd=REPO, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        preexec_fn=_take_controlling_terminal)  # noqa: PLW1509 (no threads in this child yet)
    os.close(slave)
    shown = b""
    try:
        deadline = time.monotonic() + 60
        while len(marker_pids(marker)) < 20 and time.monotonic() < deadline:
            assert proc.poll() is None, shown.decode(errors="replace")
            if select.select([master], [], [], 0.1)[0]:
                shown += os.read(master, 65536)
        assert len(marker_pids(marker)) >= 20, shown.decode(errors="replace")
        os.close(master)  # the terminal window closes
        master = -1
        proc.wait(timeout=10)
    finally:
        if master >= 0:
            os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, shown.decode(errors="replace")
    assert_interrupted(report, junit, marker)


def _take_controlling_terminal() -> None:
    """In the child, after setsid: make its stdin (the pty) the session's controlling tty."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def sleep_book(tmp_path: Path, marker: str) -> Path:
    """A runbook whose first step sleeps 60 s on the 20 hosts (`marker` in its command line)."""
    book = tmp_path / "sleep.yml"
    book.write_text(f"""
name: interrupted
steps:
  - name: long
    hosts: "{HOSTS_20}"
    run: sh -c 'sleep 60; echo {marker}'
  - name: after
    hosts: "{HOSTS_20}"
    run: echo never
""")
    return book


def assert_interrupted(report: Path, junit: Path, marker: str) -> None:
    """Both reports say `interrupted`, and no remote `sleep` of `marker` survived."""
    data = json.loads(report.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["status"] == "interrupted"
    assert {r["status"] for r in data["steps"][0]["results"].values()} == {"error"}
    assert {r["status"] for r in data["steps"][1]["results"].values()} == {"skipped"}
    ET.parse(junit)
    assert wait_no_marker(marker) == []


def test_collect_logs_example_runs_against_the_lab(sshd_lab: SshdLab, tmp_path: Path) -> None:
    """examples/collect-logs.yml, copied next to a lab whose routers are sshd lab hosts."""
    names = ["router1", "router2", "edge1"]
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01"], extra={"hosts": {
        name: {"address": sshd_lab.addresses[i + 1]} for i, name in enumerate(names)}})
    book = (REPO / "examples" / "collect-logs.yml").read_text()
    bundle = tmp_path / "bundle-{{ host.id }}"
    proc, report = apply(tmp_path, lab, book, "-e", f"bundle={bundle}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(results(report, 0)) == names
    for name in names:
        assert (tmp_path / "logs" / name / f"bundle-{name}" / "uptime.txt").is_file()
        assert not (tmp_path / f"bundle-{name}").exists()  # cleaned up on the host


def test_connection_lost_mid_step_says_so_everywhere(lab_file: Path, tmp_path: Path) -> None:
    """The sshd session dies mid-step (the step kills its own sshd process): every non-ok result
    carries a message saying what happened, on the console, in JSON and in JUnit."""
    book = """
name: lost
steps:
  - name: lose the connection
    hosts: "^h0[12]$"
    run: "kill -KILL $PPID; sleep 5"
  - name: lose a oneshot's connection
    hosts: "^h0[34]$"
    oneshot: "kill -KILL $PPID; sleep 5"
"""
    junit = tmp_path / "junit.xml"
    proc, report = apply(tmp_path, lab_file, book, "--junit", str(junit))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lost = {**results(report, 0), **results(report, 1)}
    assert set(lost) == {"h01", "h02", "h03", "h04"}
    for host_id, result in lost.items():
        assert result["status"] in ("error", "unreachable"), result
        assert "lost" in result.get("message", ""), (host_id, result)
    for line in proc.stdout.splitlines():
        if any(word in line for word in ("ERROR", "FAILED", "UNREACHABLE")) and "h0" in line:
            assert "lost" in line, line
    for case in ET.parse(junit).getroot().iter("testcase"):
        for verdict in case:
            if verdict.tag in ("error", "failure"):
                assert "lost" in verdict.get("message", ""), ET.tostring(case)


def test_passphrase_protected_key(sshd_lab: SshdLab, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Without key_passphrase the host is unreachable with a message saying how to supply it;
    with `key_passphrase: "{{ secret(...) }}"` it logs in, and the passphrase is in no output."""
    locked = tmp_path / "locked_ed25519"
    locked.write_bytes(sshd_lab.client_key.read_bytes())
    locked.chmod(0o600)
    passphrase = "correct horse 42"
    subprocess.run(["ssh-keygen", "-q", "-p", "-N", passphrase, "-f", str(locked)], check=True,
                   stdin=subprocess.DEVNULL)
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01", "h02"], extra={
        "defaults": {"key": str(locked), "agent": False},
        "hosts": {"h02": {"key_passphrase": "{{ secret('KEYPASS') }}"}}})
    book = "name: keys\nsteps:\n  - name: who\n    hosts: .\n    oneshot: echo in\n"
    junit = tmp_path / "junit.xml"
    monkeypatch.setenv("RUNBOOK_SECRET_KEYPASS", passphrase)  # the apply subprocess inherits it
    proc, report = apply(tmp_path, lab, book, "--junit", str(junit))
    first = results(report, 0)
    assert first["h02"]["status"] == "success", first["h02"]
    assert first["h01"]["status"] == "unreachable", first["h01"]
    assert "key_passphrase" in first["h01"]["message"]
    assert "ssh-agent" in first["h01"]["message"]
    assert "key_passphrase" in proc.stdout
    everything = proc.stdout + proc.stderr + json.dumps(report) + junit.read_text()
    assert passphrase not in everything


def test_output_is_bounded_per_step_and_per_run(lab_file: Path, tmp_path: Path) -> None:
    """3 MB of output: the report keeps the first and last 64 KiB by default, a step's own
    `output_limit` wins, and `--output-limit` changes the default for the other steps."""
    book = """
name: chatty
steps:
  - name: default limit
    hosts: "^h0[12]$"
    run: seq -w 0 428570
  - name: own limit
    hosts: "^h0[12]$"
    output_limit: 1k
    oneshot: seq -w 0 428570
"""
    proc, report = apply(tmp_path, lab_file, book)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    default, own = results(report, 0)["h01"]["output"], results(report, 1)["h02"]["output"]
    assert default.startswith("000000\n") and default.endswith("428570\n")
    assert f"{2_999_997 - 2 * 65536} bytes of output left out here, 2999997 in all" in default
    assert len(default) < 2 * 65536 + 200
    assert own.startswith("000000\n") and own.endswith("428570\n")
    assert len(own) < 2 * 1024 + 200
    assert (tmp_path / "report.json").stat().st_size < 4 * (2 * 65536 + 2 * 1024) + 20_000
    proc, report = apply(tmp_path, lab_file, book, "--output-limit", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(results(report, 0)["h01"]["output"]) == 2_999_997
    assert len(results(report, 1)["h01"]["output"]) < 2 * 1024 + 200
