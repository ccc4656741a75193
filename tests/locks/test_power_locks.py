"""`runbook power`'s lab locks end to end, as real processes: held hosts exit 3, `--lock-wait`
waits for the holder to let go, SIGINT / SIGTERM / SIGHUP give the leases back, and a lease
taken away mid-run lets the started power actions finish, then exits 3 (docs/locks.md). The
power commands run over SSH on a controller host of the sshd lab and wait for a marker file,
so nothing depends on timing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.locks.lockrun import (
    REPO,
    PowerRun,
    force_release,
    holders,
    take_away_in_redis,
    wait_locked,
)
from tests.locks.redislab import RedisServer
from tests.sshlab import SshdLab


@pytest.fixture(params=["file", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The `lock:` settings of a backend: files, or the module's redis-server."""
    if request.param == "file":
        return {}
    server: RedisServer = request.getfixturevalue("redis_server")
    return {"type": "redis", "url": server.url, "namespace": tmp_path.name}


def power_lab(sshd_lab: SshdLab, tmp_path: Path, lock: dict[str, Any]) -> Path:
    """Boards b1 and b2 switched by commands run on the SSH controller h01: `on` marks
    `<name>.started`, waits while `hold` exists, then marks `<name>.on`."""
    switch = {"type": "command", "controller": "h01", "cycle_delay": 0,
              "on_cmd": f"touch {tmp_path}/{{name}}.started; "
                        f"while [ -e {tmp_path}/hold ]; do sleep 0.05; done; "
                        f"touch {tmp_path}/{{name}}.on",
              "off_cmd": f"rm -f {tmp_path}/{{name}}.on"}
    boards = {b: {"address": "127.0.0.1", "power_control": switch} for b in ("b1", "b2")}
    return sshd_lab.lab_yaml(tmp_path / "lab.yml", ["h01"],
                             extra={"lock": {"ttl": 30, **lock}, "hosts": boards})


def runbook(lab: Path, *args: str, user: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runbook", *args, "--lab", str(lab)],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO), "RUNBOOK_LOCK_USER": user})


def test_power_exits_3_when_a_host_is_held(tmp_path: Path) -> None:
    switch = {"type": "command", "on_cmd": f"touch {tmp_path}/{{name}}.on",
              "off_cmd": f"rm -f {tmp_path}/{{name}}.on", "cycle_delay": 0}
    lab = tmp_path / "lab.yml"
    lab.write_text(yaml.safe_dump({"hosts": {
        "b1": {"address": "127.0.0.1", "power_control": switch},
        "b2": {"address": "127.0.0.1", "power_control": switch}}}))
    assert runbook(lab, "lock", "b2", "--for", "1h", "--note", "bench",
                   user="bob").returncode == 0
    refused = runbook(lab, "power", "b", "on", user="alice")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "b2: held by bob@" in refused.stderr and not (tmp_path / "b1.on").exists()
    done = runbook(lab, "power", "b1", "on", user="alice")
    assert done.returncode == 0 and (tmp_path / "b1.on").exists()
    assert runbook(lab, "power", "b", "status", user="alice").returncode == 0  # locks nothing
    assert runbook(lab, "power", "b", "on", "--no-lock", user="alice").returncode == 0


def test_lock_wait_powers_once_the_holder_lets_go(
        sshd_lab: SshdLab, tmp_path: Path, backend: dict[str, Any],
        powers: list[PowerRun]) -> None:
    lab = power_lab(sshd_lab, tmp_path, backend)
    assert runbook(lab, "lock", "b2", "--for", "1h", user="bob").returncode == 0
    run = PowerRun(tmp_path, "power", lab, "b", "on", "--lock-wait", "60")
    powers.append(run)
    run.wait_stderr("waiting up to 60s for hosts locked by someone else")
    assert "b2: held by bob@" in run.err.read_text()
    # all or nothing: while it waits it holds not even the free b1, and powers nothing
    assert {h.host: h.holder.user for h in holders(lab)} == {"b2": "bob"}
    assert not list(tmp_path.glob("*.started"))
    released = runbook(lab, "unlock", "b2", user="bob")
    assert released.returncode == 0, released.stdout + released.stderr
    assert run.finish() == 0, run.output()
    assert (tmp_path / "b1.on").exists() and (tmp_path / "b2.on").exists()
    assert holders(lab) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_power_releases_its_locks_on_signals(
        sshd_lab: SshdLab, tmp_path: Path, backend: dict[str, Any], powers: list[PowerRun],
        sig: signal.Signals) -> None:
    lab = power_lab(sshd_lab, tmp_path, backend)
    (tmp_path / "hold").touch()
    run = PowerRun(tmp_path, "power", lab, "b", "on")
    powers.append(run)
    run.wait_until(lambda: all((tmp_path / f"{b}.started").exists() for b in ("b1", "b2")),
                   "started both power commands")
    wait_locked(lab, {"b1", "b2"})
    run.process.send_signal(sig)
    assert run.process.wait(timeout=60) == 130, run.output()
    assert holders(lab) == []  # released, not expired: the TTL is 30 s
    listing = runbook(lab, "locks", user="alice")
    assert listing.returncode == 0 and "b1" not in listing.stdout, listing.stdout
    assert "INTERRUPTED" in run.out.read_text()


@pytest.mark.parametrize(("backend", "how"), [("file", "force"), ("redis", "force"),
                                              ("redis", "overwrite")], indirect=["backend"])
def test_a_lost_lock_lets_started_actions_finish_then_exits_3(
        sshd_lab: SshdLab, tmp_path: Path, backend: dict[str, Any], powers: list[PowerRun],
        how: str) -> None:
    lab = power_lab(sshd_lab, tmp_path, {**backend, "ttl": 3})  # renewed every second
    (tmp_path / "hold").touch()
    run = PowerRun(tmp_path, "power", lab, "b", "on")
    powers.append(run)
    run.wait_until(lambda: all((tmp_path / f"{b}.started").exists() for b in ("b1", "b2")),
                   "started both power commands")
    wait_locked(lab, {"b1", "b2"})
    if how == "force":
        force_release(lab, "b1")
    else:
        take_away_in_redis(backend["url"], backend["namespace"], "b1", how)
    run.wait_stderr("lost the lock")
    assert "the power actions already started finish" in run.err.read_text()
    assert not list(tmp_path.glob("*.on"))  # not cut short: still waiting for `hold`
    assert run.finish() == 3, run.output()
    assert (tmp_path / "b1.on").exists() and (tmp_path / "b2.on").exists()
    lines = run.out.read_text().split("\n")
    assert sorted(line.split()[:3] for line in lines if line) == [["b1", "on", "ok"],
                                                                  ["b2", "on", "ok"]]
    left = {h.host: h.holder.owner for h in holders(lab)}
    assert left == ({"b1": "mallory@elsewhere"} if how == "overwrite" else {})
