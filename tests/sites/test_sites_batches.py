"""Rolling batches across sites (docs/sites.md): each part batches its own hosts, the merged
report lists every part's batches shaped like a single-site run's, and `max_failed` counts
the failed hosts of every part: once exceeded, no part starts another batch. Real
`runbook apply`, a real redis-server and real workers (tests/sites/conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jsonschema

from tests.sites.conftest import RedisServer, SiteWorkers
from tests.sites.sitelab import ALL, REPO, SCHEMA, apply, controller_env, lab_doc, statuses
from tests.sshlab import SshdLab


def batches(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(b["number"], b["of"], b["hosts"], sorted(b), b.get("not_started"))
            for b in report["batches"]]


def test_the_merged_batches_are_shaped_like_a_single_site_runs(
        running: SiteWorkers, site_lab: Path, sshd_lab: SshdLab, redis_server: RedisServer,
        tmp_path: Path) -> None:
    book = f"""
name: batched
batch: 2
steps:
  - {{name: one, hosts: "{ALL}", run: echo one}}
  - {{name: two, hosts: "{ALL}", run: echo two}}
"""
    proc, multi = apply(tmp_path, site_lab, book, controller_env(redis_server))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    single_lab = lab_doc(sshd_lab, redis_server, tmp_path / "single.yml", sites=False)
    proc, single = apply(tmp_path, single_lab, book, controller_env(redis_server))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert batches(multi) == batches(single) == [
        (1, 3, ["h01", "h02"], ["ended", "hosts", "number", "of", "started"], None),
        (2, 3, ["h03", "h04"], ["ended", "hosts", "number", "of", "started"], None),
        (3, 3, ["h05", "h06"], ["ended", "hosts", "number", "of", "started"], None)]
    assert all(b["started"] and b["ended"] for b in multi["batches"])


def wait_for(predicate: Any, what: str, deadline_s: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_max_failed_counts_the_failed_hosts_of_every_site(
        running: SiteWorkers, sshd_lab: SshdLab, redis_server: RedisServer,
        tmp_path: Path) -> None:
    # east: h03 h04 | h07, west: h05 h06 | h08 (batches of 2). h03 and h05 fail in their
    # first batch: one failure per site, two across the sites, more than max_failed 1
    lab = lab_doc(sshd_lab, redis_server, tmp_path / "lab.yml",
                  extra_hosts={"h07": {"site": "east"}, "h08": {"site": "west"}})
    release = Path(f"/tmp/runbook-maxfailed-{uuid.uuid4().hex[:8]}")
    book = tmp_path / "book.yml"
    hold = f"i=0; while [ ! -e {release} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"
    book.write_text(f"""
name: max failed across sites
batch: 2
max_failed: 1
steps:
  - name: work
    hosts: "^h0[1-8]$"
    run: "{{% if host.id in ['h03', 'h05'] %}}false{{% else %}}{hold}{{% endif %}}"
""")
    report = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(lab),
         "--report-json", str(report)], cwd=REPO, env=controller_env(redis_server),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:  # h04 and h06 hold their site's first batch until both workers heard the count
        for site in ("east", "west"):
            wait_for(lambda site=site: "batches (2 host(s) failed across the sites (h03, h05)"
                     in running.log_text(site), f"{site} worker never told: "
                     f"{running.log_text(site)[-2000:]}")
        release.touch()
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        release.unlink(missing_ok=True)
    assert proc.returncode == 1, out
    data = json.loads(report.read_text())
    jsonschema.validate(data, SCHEMA)
    work = statuses(data, 0)
    assert {h: work[h] for h in ("h01", "h02", "h04", "h06")} == dict.fromkeys(
        ["h01", "h02", "h04", "h06"], "success")
    assert work["h03"] == work["h05"] == "failed"
    reason = "2 host(s) failed across the sites (h03, h05), more than max_failed 1"
    for host_id in ("h07", "h08"):
        assert work[host_id] == "skipped", work
        assert data["steps"][0]["results"][host_id]["message"] == \
            f"not run: batch not started: {reason}"
    assert [(b["hosts"], b.get("not_started")) for b in data["batches"]] == [
        (["h01", "h02"], None), (["h03", "h04"], None), (["h05", "h06"], None),
        (["h07"], reason), (["h08"], reason)]
