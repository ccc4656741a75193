"""Lab locks on a multi-site run: the controller (`runbook apply`) takes the lab's locks for
every host the run targets, whichever site's worker drives it (docs/sites.md, docs/locks.md).

Real `runbook apply` processes, a real redis-server as broker and two real workers; the
leases are in the lab's default file backend (a folder per test), or in a second real
redis-server the test stops to make the run lose its lock. The first run's step waits
for a marker file the test removes (tests/locks/lockrun.py), so nothing depends on timing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.locks.lockrun import DEADLINE, ApplyRun, holders, wait_locked
from tests.locks.redislab import RedisServer as LockRedis
from tests.sites.conftest import RedisServer, SiteWorkers
from tests.sites.sitelab import controller_env, lab_doc
from tests.sshlab import SshdLab


@pytest.fixture
def runs() -> Iterator[list[ApplyRun]]:
    """`runbook apply` runs a test started: let go and reaped (killed if need be) after it."""
    started: list[ApplyRun] = []
    yield started
    for run in started:
        run.go()
        run.kill()


def wait_logged(workers: SiteWorkers, sites: list[str], text: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not all(text in workers.log_text(site) for site in sites):
        assert time.monotonic() < deadline, [workers.log_text(site) for site in sites]
        time.sleep(0.05)


def test_a_second_apply_on_a_site_host_the_first_holds_exits_3(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer, tmp_path: Path,
        runs: list[ApplyRun]) -> None:
    env = controller_env(redis_server)
    first = ApplyRun(tmp_path, "first", site_lab, "^(h01|h03)$", env=env)  # h03: site east
    runs.append(first)
    held = {h.host: h.holder for h in wait_locked(site_lab, {"h01", "h03"})}
    second = ApplyRun(tmp_path, "second", site_lab, "^(h03|h05)$", env=env)  # h05: site west
    runs.append(second)
    code, report = second.finish()
    assert code == 3, second.output()
    assert f"h03: held by {held['h03'].owner}" in second.output()
    assert "h03" in report["locks"]["refused"]
    assert all(step["results"] == {} for step in report["steps"]), report["steps"]
    assert "h05" not in {h.host for h in holders(site_lab)}  # all or nothing
    code, report = first.finish()
    assert code == 0, first.output()
    assert report["locks"]["hosts"] == ["h01", "h03"]
    assert report["sites"] == {"h03": "east"}
    assert report["steps"][1]["results"]["h03"]["status"] == "success"
    assert holders(site_lab) == []


def test_a_multi_site_run_holds_its_site_hosts_until_it_ends(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer, tmp_path: Path,
        runs: list[ApplyRun]) -> None:
    run = ApplyRun(tmp_path, "only-sites", site_lab, "^(h04|h06)$", env=controller_env(redis_server))
    runs.append(run)
    locked = wait_locked(site_lab, {"h04", "h06"})
    assert {h.host for h in locked} == {"h04", "h06"}
    code, report = run.finish()
    assert code == 0, run.output()
    assert report["locks"]["hosts"] == ["h04", "h06"] and report["locks"]["lost"] is None
    assert holders(site_lab) == []


def test_a_lock_lost_mid_run_stops_new_steps_on_every_site_and_exits_3(
        running: SiteWorkers, sshd_lab: SshdLab, redis_server: RedisServer,
        own_redis_server: LockRedis, tmp_path: Path, runs: list[ApplyRun]) -> None:
    lab = lab_doc(sshd_lab, redis_server, tmp_path / "lab.yml",
                  lock={"type": "redis", "url": own_redis_server.url, "ttl": 2})
    run = ApplyRun(tmp_path, "run", lab, "^(h01|h03|h05)$", env=controller_env(redis_server))
    runs.append(run)
    wait_locked(lab, {"h01", "h03", "h05"})
    run.wait_output("hold until the test says go")
    own_redis_server.stop()  # the lock backend: the next renewal fails
    run.wait_output("lost the lock")
    wait_logged(running, ["east", "west"], ": stop (lost the lock")  # the workers were told
    code, report = run.finish()
    assert code == 3, run.output()
    assert report["locks"]["lost"].startswith("lost the lock")
    second = report["steps"][1]["results"]
    assert set(second) == {"h01", "h03", "h05"}, second  # the local host and both sites'
    assert {r["status"] for r in second.values()} == {"skipped"}, second
    assert all("lost the lock" in r["message"] for r in second.values()), second
