"""Leases end to end, on the file backend and a real redis-server: a killed holder frees its
hosts when the TTL runs out (and not before), a run longer than the TTL keeps them, a lease
taken away (force-released, deleted or overwritten in redis) makes the run stop starting
steps, run its `always` cleanup and exit 3, as does a redis-server that stops (no new
steps, exit 3); a plugin backend drives a real run. `runbook power`'s locks:
tests/locks/test_power_locks.py."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.locks.lockrun import (
    DEADLINE,
    REPO,
    ApplyRun,
    force_release,
    holders,
    install_plugin,
    show_run,
    take_away_in_redis,
    try_take,
    wait_locked,
)
from tests.locks.redislab import RedisServer
from tests.sshlab import SshdLab


def short_ttl_lab(sshd_lab: SshdLab, tmp_path: Path, ttl: float,
                  **lock: Any) -> Path:
    return sshd_lab.lab_yaml(tmp_path / "lab.yml", ["h01", "h02"],
                             extra={"lock": {"ttl": ttl, **lock}})


@pytest.fixture(params=["file", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The `lock:` settings of a backend: files, or the module's redis-server (a namespace
    of the test's own)."""
    if request.param == "file":
        return {}
    server: RedisServer = request.getfixturevalue("redis_server")
    return {"type": "redis", "url": server.url, "namespace": tmp_path.name}


def test_kill_9_frees_the_hosts_after_the_ttl_not_before(
        sshd_lab: SshdLab, tmp_path: Path, runs: list[ApplyRun],
        backend: dict[str, Any]) -> None:
    lab = short_ttl_lab(sshd_lab, tmp_path, 2, **backend)
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
        sshd_lab: SshdLab, tmp_path: Path, runs: list[ApplyRun],
        backend: dict[str, Any]) -> None:
    # A 3 s TTL (renewed each second) leaves room for a loaded CI machine's scheduling delays.
    lab = short_ttl_lab(sshd_lab, tmp_path, 3, **backend)
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


#: how the lease is taken away -> what the run's `lost the lock` reason names
TAKE_AWAY = {"force": "test@bench", "delete": "the lease expired before it was renewed",
             "overwrite": "h01: held by mallory@elsewhere (run intruder-run)"}


@pytest.mark.parametrize(("kind", "how"), [("file", "force"), ("redis", "force"),
                                           ("redis", "delete"), ("redis", "overwrite")])
def test_a_lost_lock_runs_the_always_cleanup_then_exits_3(
        sshd_lab: SshdLab, tmp_path: Path, runs: list[ApplyRun], request: pytest.FixtureRequest,
        kind: str, how: str) -> None:
    # issue 15: the run stops starting steps, runs its `always` cleanup, and exits 3
    marks = tmp_path / "marks"
    marks.mkdir()
    lock: dict[str, Any] = {}
    if kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        lock = {"type": "redis", "url": server.url, "namespace": tmp_path.name}
    lab = short_ttl_lab(sshd_lab, tmp_path, 3, **lock)  # renewed every second
    run = ApplyRun(tmp_path, "run", lab, "^(h01|h02)$",
                   always=f"touch {marks}/{{{{ host.id }}}}")
    runs.append(run)
    wait_locked(lab, {"h01", "h02"})
    run.wait_output("hold until the test says go")
    if how == "force":
        force_release(lab, "h01")
    else:
        take_away_in_redis(lock["url"], lock["namespace"], "h01", how)
    run.wait_output("lost the lock")
    assert not list(marks.iterdir())  # the block's work is still running: no cleanup yet
    code, report = run.finish()
    assert code == 3, run.output()
    assert TAKE_AWAY[how] in report["locks"]["lost"], report["locks"]
    steps = {s["name"]: s["results"] for s in report["steps"]}
    assert {r["status"] for r in steps["hold until the test says go"].values()} == {"success"}
    for skipped in ("second step", "after"):
        assert {r["status"] for r in steps[skipped].values()} == {"skipped"}, steps[skipped]
        assert all("lost the lock" in r["message"] for r in steps[skipped].values())
    assert {r["status"] for r in steps["cleanup"].values()} == {"success"}
    assert {p.name for p in marks.iterdir()} == {"h01", "h02"}  # the cleanup ran on the hosts
    assert "the pending `always` steps still run" in run.output()
    shown = show_run(tmp_path / "runs", report["run_id"])
    assert "locks    lost the lock: " in shown and TAKE_AWAY[how] in shown, shown
    intruders = {h.host: h.holder.owner for h in holders(lab)}
    assert intruders == ({"h01": "mallory@elsewhere"} if how == "overwrite" else {})


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
    assert (folder / "lab" / "h01.json").read_text().strip() == ""  # released: blanked
