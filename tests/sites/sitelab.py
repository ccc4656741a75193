"""The multi-site test lab: a lab file whose hosts h03-h06 are driven by the site workers
(east, west) and h01-h02 by `runbook apply` itself, and `apply` run as a real subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema

if TYPE_CHECKING:
    from tests.sites.conftest import RedisServer
    from tests.sshlab import SshdLab

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "schemas" / "report.schema.json").read_text())
LOCAL_HOSTS = ["h01", "h02"]
SITE_OF = {"h03": "east", "h04": "east", "h05": "west", "h06": "west"}
ALL = "^h0[1-6]$"
SITE_TOKEN = "tok-5e1f-resolved-on-the-worker"


def lab_doc(sshd_lab: SshdLab, redis: RedisServer, path: Path,
            extra_hosts: dict[str, dict[str, Any]] | None = None, sites: bool = True,
            lock: dict[str, Any] | None = None) -> Path:
    """The lab: h01-h02 local, h03-h04 site east, h05-h06 site west (+ `extra_hosts`), with
    `lock` as its `lock:` block (default: none, the file backend)."""
    hosts = ["h01", "h02", "h03", "h04", "h05", "h06", *(extra_hosts or {})]
    extra: dict[str, Any] = {}
    if sites:
        extra = {"broker": f"redis://:{{{{ secret('BROKER') }}}}@127.0.0.1:{redis.port}/0",
                 "sites": {"east": {}, "west": {}, "north": {}},
                 "hosts": {h: {"site": s} for h, s in SITE_OF.items()} | (extra_hosts or {})}
    if lock is not None:
        extra["lock"] = lock
    return sshd_lab.lab_yaml(path, host_ids=hosts, extra=extra)


def controller_env(redis: RedisServer, **secrets: str) -> dict[str, str]:
    """The environment of `runbook apply`: the broker's secret, no site secret but `secrets`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_SECRET_")}
    env.update({"PYTHONPATH": str(REPO), "RUNBOOK_SECRET_BROKER": redis.password})
    env.update({f"RUNBOOK_SECRET_{k}": v for k, v in secrets.items()})
    return env


def apply(tmp_path: Path, lab: Path, book: str, env: dict[str, str], *args: str,
          timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`runbook apply BOOK --lab LAB` in a subprocess; its JSON report, checked by the schema."""
    path = tmp_path / f"book-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(book)
    report = tmp_path / f"report-{uuid.uuid4().hex[:6]}.json"
    proc = subprocess.run(
        [sys.executable, "-m", "runbook", "apply", str(path), "--lab", str(lab),
         "--report-json", str(report), *args],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
    assert report.exists(), proc.stdout + proc.stderr
    data: dict[str, Any] = json.loads(report.read_text())
    jsonschema.validate(data, SCHEMA)
    return proc, data


def statuses(report: dict[str, Any], step: int) -> dict[str, str]:
    return {h: r["status"] for h, r in report["steps"][step]["results"].items()}


def marker_pids(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", marker], check=False, capture_output=True, text=True)
    return found.stdout.split()


def wait_no_marker(marker: str, deadline_s: float = 10.0) -> list[str]:
    deadline = time.monotonic() + deadline_s
    while (pids := marker_pids(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return pids


def kill_markers(marker: str) -> None:
    """Leftovers of a failed test: the marked commands this test started, by pid."""
    for pid in marker_pids(marker):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def wait_for(check: Callable[[], bool], what: str, deadline_s: float = 60.0) -> None:
    """Poll `check` until it holds; fail naming `what` after `deadline_s`."""
    deadline = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
