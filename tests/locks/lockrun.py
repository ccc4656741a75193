"""Helpers of the lock end-to-end tests: `runbook apply` subprocesses whose first step waits
for a marker file (`ApplyRun`), `runbook power` subprocesses (`PowerRun`), looking at,
probing and taking away leases in the lock store of a lab, and pip-installing the test
plugin backend (tests/locks/plugin_dist)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runbook.language.labfile import load_lab
from runbook.locks import Holder, HostLock, LockBackend
from runbook.locks.config import lab_lock_config
from tests.power.helpers import require_tool

PLUGIN_DIST = Path(__file__).with_name("plugin_dist")
REPO = Path(__file__).resolve().parents[2]
DEADLINE = 60.0


class ApplyRun:
    """One `runbook apply` subprocess with its output in files and a JSON report."""

    def __init__(self, tmp_path: Path, name: str, lab: Path, hosts: str, *args: str,
                 env: dict[str, str] | None = None, always: str | None = None) -> None:
        """`always`: a command run as the `cleanup` step of an `always:` section, the two
        steps then being the `block:` of a block named `work` (and a step `after` follows)."""
        self.marker = tmp_path / f"{name}.hold"
        self.marker.touch()
        book = tmp_path / f"{name}.yml"
        steps = f"""
  - name: hold until the test says go
    hosts: "{hosts}"
    run: "while [ -e {self.marker} ]; do sleep 0.05; done"
  - name: second step
    hosts: "{hosts}"
    run: echo second
"""
        if always is not None:
            steps = f"""
  - name: work
    hosts: "{hosts}"
    block:{steps.replace(chr(10) + "  ", chr(10) + "      ")}
    always:
      - name: cleanup
        run: "{always}"
  - name: after
    hosts: "{hosts}"
    run: echo after
"""
        book.write_text(f"name: {name}\nsteps:{steps}")
        self.report = tmp_path / f"{name}.json"
        self.out = tmp_path / f"{name}.out"
        with self.out.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(lab),
                 "--report-json", str(self.report), "--runs-dir", str(tmp_path / "runs"),
                 *args],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})

    def go(self) -> None:
        self.marker.unlink(missing_ok=True)

    def output(self) -> str:
        return self.out.read_text()

    def wait_output(self, text: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while text not in self.output():
            assert self.process.poll() is None or text in self.output(), self.output()
            assert time.monotonic() < deadline, f"no {text!r} in: {self.output()}"
            time.sleep(0.02)

    def finish(self) -> tuple[int, dict[str, Any]]:
        self.go()
        code = self.process.wait(timeout=DEADLINE)
        report: dict[str, Any] = json.loads(self.report.read_text())
        return code, report

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=DEADLINE)


class PowerRun:
    """One `runbook power ... --lab LAB` subprocess as `user`, its stdout and stderr in files.

    `hold` is a marker file the lab's power commands wait for (removed by `go`)."""

    def __init__(self, tmp_path: Path, name: str, lab: Path, *args: str,
                 user: str = "alice") -> None:
        self.hold = tmp_path / "hold"
        self.out, self.err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "runbook", "power", *args, "--lab", str(lab)],
                cwd=REPO, stdout=out, stderr=err,
                env={**os.environ, "PYTHONPATH": str(REPO), "RUNBOOK_LOCK_USER": user})

    def output(self) -> str:
        return f"stdout:\n{self.out.read_text()}stderr:\n{self.err.read_text()}"

    def wait_until(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not done():
            assert self.process.poll() is None, f"exited before {what}: {self.output()}"
            assert time.monotonic() < deadline, f"never {what}: {self.output()}"
            time.sleep(0.02)

    def wait_stderr(self, text: str) -> None:
        self.wait_until(lambda: text in self.err.read_text(), f"said {text!r}")

    def go(self) -> None:
        self.hold.unlink(missing_ok=True)

    def finish(self) -> int:
        self.go()
        return self.process.wait(timeout=DEADLINE)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=DEADLINE)


def show_run(runs_dir: Path, run_id: str) -> str:
    """`runbook show RUN_ID` of a recorded run: its stdout."""
    shown = subprocess.run(
        [sys.executable, "-m", "runbook", "show", run_id, "--runs-dir", str(runs_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=DEADLINE, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return shown.stdout


def lab_backend(lab: Path) -> LockBackend:
    return lab_lock_config(load_lab(lab)).backend()


def holders(lab: Path) -> list[HostLock]:
    backend = lab_backend(lab)

    async def listing() -> list[HostLock]:
        try:
            return await backend.holders()
        finally:
            await backend.close()

    return asyncio.run(listing())


def wait_locked(lab: Path, hosts: set[str]) -> list[HostLock]:
    deadline = time.monotonic() + DEADLINE
    while True:
        found = holders(lab)
        if hosts <= {h.host for h in found}:
            return found
        assert time.monotonic() < deadline, f"{hosts} never locked: {found}"
        time.sleep(0.02)


def try_take(lab: Path, hosts: list[str]) -> list[HostLock]:
    """Conflicts met by an outsider taking `hosts` (released again at once if it got them)."""
    backend = lab_backend(lab)
    outsider = Holder("outsider", "elsewhere", "probe")

    async def attempt() -> list[HostLock]:
        try:
            conflicts = await backend.acquire(hosts, outsider, 30)
            if not conflicts:
                await backend.release(hosts, outsider)
            return conflicts
        finally:
            await backend.close()

    return asyncio.run(attempt())


def force_release(lab: Path, host: str) -> None:
    """What `runbook unlock HOST --force` does: someone takes the lease away from its run."""
    backend = lab_backend(lab)

    async def take_away() -> None:
        try:
            assert await backend.force_release([host], "test@bench")
        finally:
            await backend.close()

    asyncio.run(take_away())


def take_away_in_redis(url: str, namespace: str, host: str, how: str) -> None:
    """Take a lease away behind the backend's back: DEL its key, or SET another's record."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        key = f"runbook:lock:{{{namespace}}}:{host}"
        assert client.exists(key)
        if how == "delete":
            client.delete(key)
        else:
            now = time.time()
            intruder = Holder("mallory", "elsewhere", "intruder-run").with_times(now, now + 60)
            client.set(key, intruder.to_json(), px=60_000)
    finally:
        client.close()


def install_plugin(work: Path) -> Path:
    """pip-install the test plugin into `work/site` (offline, no build isolation)."""
    require_tool(importlib.util.find_spec("hatchling") is not None,
                 "hatchling is needed to build the test plugin; pip install -e '.[test]'")
    site = work / "site"
    source = shutil.copytree(PLUGIN_DIST, work / PLUGIN_DIST.name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--disable-pip-version-check", "--no-input",
         "--target", str(site), str(source)],
        check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return site
