"""Leases end to end: a killed holder frees its hosts when the TTL runs out (and not before),
a run longer than the TTL keeps them, a redis-server that stops makes the run stop starting
steps and exit 3, a plugin backend drives a real run, and `runbook power` honours locks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.locks.lockrun import (
    DEADLINE,
    REPO,
    ApplyRun,
    holders,
    install_plugin,
    try_take,
    wait_locked,
)
from tests.locks.redislab import RedisServer
from tests.sshlab import SshdLab


def short_ttl_lab(sshd_lab: SshdLab, tmp_path: Path, ttl: float,
                  **lock: Any) -> Path:
    return sshd_lab.lab_yaml(tmp_path / "lab.yml", ["h01", "h02"],
                             extra={"lock": {"ttl": ttl, **lock}})


def test_kill_9_frees_the_hosts_after_the_ttl_not_before(
        sshd_lab: SshdLab, tmp_path: Path, runs: list[ApplyRun]) -> None:
    lab = short_ttl_lab(sshd_lab, tmp_path, 2)
    holder = ApplyRun(tmp_path, "holder", lab, "^(h01|h02)$")
    runs.append(holder)
    wait_locked(lab, {"h01", "h02"})
    holder.kill()  # SIGKILL: no cleanup, the leases stay until they expire
    lease = {h.host: h.holder for h in holders(lab)}["h01"]
    assert try_take(lab, ["h01"]) != []  # right after the kill: still held
    deadline = time.monotonic() + DEADLINE
    while try_take(lab, ["h01"]):
        assert time.monotonic() < deadline, "the lease never expired"
        time.sleep(0.05)
    assert time.time() >= lease.until - 0.05  # freed by expiry, not before
    after = ApplyRun(tmp_path, "after", lab, "^(h01|h02)$")
    runs.append(after)
    assert after.finish()[0] == 0, after.output()


def test_a_run_longer_than_the_ttl_keeps_its_hosts(
        sshd_lab: SshdLab, tmp_path: Path, runs: list[ApplyRun]) -> None:
    # A 3 s TTL (renewed each second) leaves room for a loaded CI machine's scheduling delays.
    lab = short_ttl_lab(sshd_lab, tmp_path, 3)
    run = ApplyRun(tmp_path, "long", lab, "^(h01|h02)$")
    runs.append(run)
    first = {h.host: h.holder for h in wait_locked(lab, {"h01", "h02"})}["h01"]
    while time.time() < first.until + 4:  # past two and a half TTLs since it was taken
        assert try_take(lab, ["h01", "h02"]) != [], "a lease lapsed while the run worked"
        time.sleep(0.1)
    code, report = run.finish()
    assert code == 0, run.output()
    assert report["locks"]["lost"] is None


def test_redis_stopping_mid_run_stops_new_steps_and_exits_3(
        sshd_lab: SshdLab, own_redis_server: RedisServer, tmp_path: Path,
        runs: list[ApplyRun]) -> None:
    lab = short_ttl_lab(sshd_lab, tmp_path, 2, type="redis", url=own_redis_server.url)
    run = ApplyRun(tmp_path, "run", lab, "^(h01|h02)$")
    runs.append(run)
    wait_locked(lab, {"h01", "h02"})
    run.wait_output("hold until the test says go")
    own_redis_server.stop()
    run.wait_output("lost the lock")
    code, report = run.finish()
    assert code == 3, run.output()
    assert report["locks"]["lost"].startswith("lost the lock")
    second = report["steps"][1]["results"]
    assert {r["status"] for r in second.values()} == {"skipped"}
    assert all("lost the lock" in r["message"] for r in second.values())


def test_a_plugin_backend_locks_a_real_run(sshd_lab: SshdLab, tmp_path: Path,
                                           runs: list[ApplyRun]) -> None:
    site = install_plugin(tmp_path / "plugin")
    folder = tmp_path / "plugin-locks"
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", ["h01"],
                            extra={"lock": {"type": "dirlock", "folder": str(folder)}})
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), str(site)])}
    run = ApplyRun(tmp_path, "run", lab, "^h01$", env=env)
    runs.append(run)
    deadline = time.monotonic() + DEADLINE
    while not (folder / "lab" / "h01.json").exists():
        assert run.process.poll() is None, run.output()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    code, report = run.finish()
    assert code == 0, run.output()
    assert report["locks"]["backend"] == "dirlock"
    assert not (folder / "lab" / "h01.json").exists()


def test_power_exits_3_when_a_host_is_held(tmp_path: Path) -> None:
    switch = {"type": "command", "on_cmd": f"touch {tmp_path}/{{name}}.on",
              "off_cmd": f"rm -f {tmp_path}/{{name}}.on", "cycle_delay": 0}
    lab = tmp_path / "lab.yml"
    lab.write_text(yaml.safe_dump({"hosts": {
        "b1": {"address": "127.0.0.1", "power_control": switch},
        "b2": {"address": "127.0.0.1", "power_control": switch}}}))

    def runbook(*args: str, user: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "runbook", *args, "--lab", str(lab)],
                              cwd=REPO, capture_output=True, text=True, timeout=60,
                              check=False, env={**os.environ, "PYTHONPATH": str(REPO),
                                                "RUNBOOK_LOCK_USER": user})

    assert runbook("lock", "b2", "--for", "1h", "--note", "bench", user="bob").returncode == 0
    refused = runbook("power", "b", "on", user="alice")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "b2: held by bob@" in refused.stderr and not (tmp_path / "b1.on").exists()
    done = runbook("power", "b1", "on", user="alice")
    assert done.returncode == 0 and (tmp_path / "b1.on").exists()
    assert runbook("power", "b", "status", user="alice").returncode == 0  # status locks nothing
    assert runbook("power", "b", "on", "--no-lock", user="alice").returncode == 0
