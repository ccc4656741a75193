"""`runbook worker --concurrency N` (docs/sites.md, "Running a worker"): one worker runs
overlapping runs side by side, and a run that finds every worker of a site busy says so.
Real `runbook apply` processes, a real redis-server, one real worker with --concurrency 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.sites.conftest import RedisServer, SiteWorkers
from tests.sites.sitelab import REPO, apply, controller_env, lab_doc
from tests.sshlab import SshdLab


def test_two_overlapping_runs_share_one_worker_and_a_third_is_told_it_is_busy(
        workers: SiteWorkers, sshd_lab: SshdLab, redis_server: RedisServer,
        tmp_path: Path) -> None:
    lab = lab_doc(sshd_lab, redis_server, tmp_path / "north.yml",
                  extra_hosts={h: {"site": "north"} for h in ("h07", "h08", "h09")})
    go = tmp_path / "go"
    books = {}
    for host in ("h07", "h08"):  # on hosts of their own: each run locks its hosts
        books[host] = tmp_path / f"wait-{host}.yml"
        books[host].write_text(f"""
name: overlapping
steps:
  - name: wait
    hosts: "^{host}$"
    run: "timeout 120 sh -c 'until [ -e {go} ]; do sleep 0.1; done' && echo released"
""")
    workers.start("north", "--concurrency", "2")
    env = controller_env(redis_server)
    client = redis_server.client()
    runs = [subprocess.Popen(
        [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(lab),
         "--site-timeout", "60", "--report-json", f"{book}.json"], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True) for book in books.values()]
    try:
        deadline = time.monotonic() + 90
        while len(list(client.scan_iter("runbook:run:*:north:alive"))) < 2:
            assert time.monotonic() < deadline, workers.log_text("north")
            assert all(p.poll() is None for p in runs), [p.poll() for p in runs]
            time.sleep(0.1)
        third, report = apply(tmp_path, lab, 'name: third\nsteps:\n'
                              '  - {name: one, hosts: "^h09$", run: "true"}\n', env,
                              "--site-timeout", "3")
        go.touch()
        outputs = [p.communicate(timeout=60)[0] for p in runs]
    finally:
        go.touch()
        for proc in runs:
            if proc.poll() is None:
                proc.kill()
        workers.stop("north")
    assert [p.returncode for p in runs] == [0, 0], outputs
    for host, book in books.items():
        result = json.loads(Path(f"{book}.json").read_text())["steps"][0]["results"][host]
        assert (result["status"], result["output"]) == ("success", "released\n"), result
    assert third.returncode == 1, third.stdout + third.stderr
    result = report["steps"][0]["results"]["h09"]
    assert result["status"] == "unreachable"
    assert result["message"] == ("worker(s) for site north busy: 2 running share(s); "
                                 "start more or raise --concurrency"), result
