"""Multi-site runs end to end: a real redis-server, two real `runbook worker`s (sites east and
west) each driving its part of the loopback sshd lab, and hosts driven by `runbook apply` itself.

Every test runs the real CLI as a subprocess and judges it by exit code, JSON report, the
workers' effects on the hosts and what is (not) stored in Redis.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.sites.conftest import RedisServer, SiteWorkers
from tests.sites.sitelab import (
    ALL,
    LOCAL_HOSTS,
    REPO,
    SCHEMA,
    SITE_OF,
    SITE_TOKEN,
    apply,
    controller_env,
    kill_markers,
    lab_doc,
    marker_pids,
    statuses,
    wait_no_marker,
)
from tests.sshlab import SshdLab


def shape(report: dict[str, Any]) -> Any:
    """What must be equal between a multi-site run and a single-site one."""
    return {
        "keys": sorted(k for k in report if k != "sites"),
        "status": report["status"],
        "hosts": report["hosts"],
        "steps": [(s["index"], s["name"], s["action"], sorted(s),
                   {h: (r["status"], r["rc"], sorted(r)) for h, r in s["results"].items()})
                  for s in report["steps"]],
    }


def test_one_merged_report_equal_in_shape_to_a_single_site_run(
        running: SiteWorkers, site_lab: Path, sshd_lab: SshdLab, redis_server: RedisServer,
        tmp_path: Path) -> None:
    source = tmp_path / "motd.txt"
    source.write_text("shipped to every site\n")
    dest = f"/tmp/runbook-sites-{uuid.uuid4().hex[:8]}"  # per host: they share one filesystem
    book = f"""
name: merged
steps:
  - name: hello
    hosts: "{ALL}"
    run: echo hello from {{{{ host.id }}}}
  - name: ship
    hosts: "{ALL}"
    put: {{src: motd.txt, dest: "{dest}-{{{{ host.id }}}}/"}}
  - name: read back
    hosts: "{ALL}"
    run: cat {dest}-{{{{ host.id }}}}/motd.txt && rm -r {dest}-{{{{ host.id }}}}
"""
    proc, multi = apply(tmp_path, site_lab, book, controller_env(redis_server))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert multi["sites"] == SITE_OF
    recap = proc.stdout[proc.stdout.index("recap"):]
    assert "h03 @east" in recap and "h05 @west" in recap and "h01 @" not in recap
    assert set(statuses(multi, 2).values()) == {"success"}
    for host_id, result in multi["steps"][2]["results"].items():
        assert "shipped to every site" in result["output"], (host_id, multi["steps"])
    assert "hello from h05" in multi["steps"][0]["results"]["h05"]["output"]
    single_lab = lab_doc(sshd_lab, redis_server, tmp_path / "single.yml", sites=False)
    proc, single = apply(tmp_path, single_lab, book, controller_env(redis_server))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sites" not in single
    assert shape(multi) == shape(single)
    assert list(multi["steps"][0]["results"]) == list(single["steps"][0]["results"])


def test_a_secret_is_resolved_on_the_worker_not_the_controller(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer, tmp_path: Path) -> None:
    book = f"""
name: site secret
steps:
  - name: use it
    hosts: "^h0[3-6]$"
    run: test "{{{{ secret('SITE_TOKEN') }}}}" = "{SITE_TOKEN}" && echo token={{{{ secret('SITE_TOKEN') }}}}
"""
    proc, report = apply(tmp_path, site_lab, book, controller_env(redis_server))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(statuses(report, 0).values()) == {"success"}
    assert report["steps"][0]["results"]["h03"]["output"].strip() == "token=***"
    assert SITE_TOKEN not in proc.stdout + proc.stderr + json.dumps(report)


def redis_dump(redis: RedisServer) -> bytes:
    """Every key and value in the broker's Redis (all types), concatenated."""
    client = redis.client()
    parts: list[bytes] = []
    for key in client.scan_iter(count=1000):
        parts.append(key)
        kind = client.type(key)
        if kind == b"string":
            parts.append(client.get(key) or b"")
        elif kind == b"list":
            parts += client.lrange(key, 0, -1)
        elif kind == b"hash":
            for field, value in client.hgetall(key).items():
                parts += [field, value]
        elif kind == b"set":
            parts += list(client.smembers(key))
        elif kind == b"zset":
            parts += [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == b"stream":
            for _, fields in client.xrange(key):
                for field, value in fields.items():
                    parts += [field, value]
    return b"\n".join(parts)


def decoded_bodies(dump: bytes) -> bytes:
    """Kombu messages carry their body base64-encoded: decode every such body too."""
    found: list[bytes] = []
    for line in dump.split(b"\n"):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        body = message.get("body") if isinstance(message, dict) else None
        if isinstance(body, str):
            found.append(base64.b64decode(body))
    return b"\n".join(found)


def test_the_task_in_redis_carries_no_secret_even_when_the_controller_has_it(
        running: SiteWorkers, sshd_lab: SshdLab, redis_server: RedisServer,
        tmp_path: Path) -> None:
    lab = lab_doc(sshd_lab, redis_server, tmp_path / "north.yml",
                  extra_hosts={"h07": {"site": "north"}})
    book = tmp_path / "north-book.yml"
    book.write_text("""
name: north
steps:
  - name: use it
    hosts: "^h07$"
    run: echo {{ secret('SITE_TOKEN') }}
""")
    env = controller_env(redis_server, SITE_TOKEN=SITE_TOKEN)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(lab),
         "--site-timeout", "60"], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        client = redis_server.client()
        deadline = time.monotonic() + 30
        while not client.llen("runbook.site.north") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.05)
        dump = redis_dump(redis_server)
        bodies = decoded_bodies(dump)
        assert b"north-book.yml" in bodies  # the task is there, with the runbook in it
        for text in (dump, bodies):
            assert SITE_TOKEN.encode() not in text
            assert base64.b64encode(SITE_TOKEN.encode()) not in text
            assert RedisServer.password.encode() not in text
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    # the share is still queued: the run's cancel flag outlives it (site timeout 60 s), so a
    # worker starting now, or later, drops it instead of running it late
    flags = [k for k in client.scan_iter("runbook:run:*:cancel") if client.ttl(k) > 60]
    assert flags, list(client.scan_iter("runbook:run:*"))
    running.start("north")
    try:
        deadline = time.monotonic() + 30
        while "cancelled before this share started" not in running.log_text("north"):
            assert time.monotonic() < deadline, running.log_text("north")
            time.sleep(0.1)
    finally:
        running.stop("north")
    assert client.llen("runbook.site.north") == 0


def test_no_worker_for_a_site_fails_its_hosts_as_unreachable(
        running: SiteWorkers, sshd_lab: SshdLab, redis_server: RedisServer,
        tmp_path: Path) -> None:
    lab = lab_doc(sshd_lab, redis_server, tmp_path / "north.yml",
                  extra_hosts={"h07": {"site": "north"}})
    book = """
name: north
steps:
  - {name: one, hosts: "^h0[1-7]$", run: "true"}
  - {name: two, hosts: "^h0[1-7]$", run: "true"}
"""
    proc, report = apply(tmp_path, lab, book, controller_env(redis_server),
                         "--site-timeout", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    first, second = report["steps"][0]["results"], report["steps"][1]["results"]
    assert first["h07"]["status"] == "unreachable"
    assert first["h07"]["message"] == "no worker for site north"
    assert second["h07"]["status"] == "skipped"
    assert {h: r["status"] for h, r in first.items() if h != "h07"} == \
        dict.fromkeys(["h01", "h02", "h03", "h04", "h05", "h06"], "success")


def test_fail_fast_in_one_site_stops_every_site(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer, tmp_path: Path) -> None:
    marker = f"ff-{uuid.uuid4().hex}"
    book = f"""
name: fail fast
steps:
  - name: long
    hosts: "{ALL}"
    run: "{{% if host.id == 'h05' %}}sleep 1; false{{% else %}}sh -c 'sleep 60; echo {marker}'{{% endif %}}"
  - name: after
    hosts: "{ALL}"
    run: echo never
"""
    try:
        proc, report = apply(tmp_path, site_lab, book, controller_env(redis_server),
                             "--fail-fast", timeout=60)
    finally:
        leftovers = wait_no_marker(marker)
        kill_markers(marker)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    first = report["steps"][0]["results"]
    assert first["h05"]["status"] == "failed"
    for host_id in ("h01", "h02", "h03", "h04", "h06"):
        assert first[host_id]["status"] == "error", (host_id, first[host_id])
        assert "fail_fast after 'h05'" in first[host_id]["message"], first[host_id]
    assert set(statuses(report, 1).values()) == {"skipped"}
    assert leftovers == []


@pytest.mark.parametrize("signals", [("SIGINT",), ("SIGTERM",), ("SIGHUP",), ("SIGINT", "SIGINT")])
def test_ctrl_c_on_the_controller_leaves_no_remote_process_on_any_host(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer, tmp_path: Path,
        signals: tuple[str, ...]) -> None:
    marker = f"int-{uuid.uuid4().hex}"
    book = tmp_path / "sleep.yml"
    book.write_text(f"""
name: interrupted
steps:
  - name: long
    hosts: "{ALL}"
    run: sh -c 'sleep 60; echo {marker}-{{{{ host.id }}}}'
  - name: after
    hosts: "{ALL}"
    run: echo never
""")
    report = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(site_lab),
         "--report-json", str(report)], cwd=REPO, env=controller_env(redis_server),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # a second signal exits at once without closing this machine's own hosts (as without
    # sites); the sites are still told to interrupt, so their hosts must be clean either way
    watched = list(SITE_OF) if len(signals) > 1 else [*LOCAL_HOSTS, *SITE_OF]
    try:
        deadline = time.monotonic() + 60
        while len(marker_pids(marker)) < 6 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.1)
        assert len(marker_pids(marker)) >= 6
        for name in signals:
            proc.send_signal(getattr(signal, name))
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        leftovers = {h: wait_no_marker(f"{marker}-{h}") for h in watched}
        kill_markers(marker)
    assert proc.returncode == 130, out
    assert leftovers == {h: [] for h in watched}
    data = json.loads(report.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["status"] == "interrupted"
    first = data["steps"][0]["results"]
    assert {h: r["status"] for h, r in first.items()} == dict.fromkeys(
        ["h01", "h02", "h03", "h04", "h05", "h06"], "error")
    assert all(r["message"] == "interrupted" for r in first.values()), first
    assert set(statuses(data, 1).values()) == {"skipped"}


def test_broker_unreachable_exits_2_naming_the_url_with_the_password_masked(
        sshd_lab: SshdLab, redis_server: RedisServer, tmp_path: Path) -> None:
    lab = lab_doc(sshd_lab, redis_server, tmp_path / "lab.yml")
    text = lab.read_text().replace(f"127.0.0.1:{redis_server.port}", "127.0.0.1:1")
    lab.write_text(text)
    book = tmp_path / "b.yml"
    book.write_text('name: b\nsteps:\n  - {name: one, hosts: "^h03$", run: "true"}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "runbook", "apply", str(book), "--lab", str(lab)],
        cwd=REPO, env=controller_env(redis_server), capture_output=True, text=True, timeout=60,
        check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "broker redis://:***@127.0.0.1:1/0 unreachable" in proc.stderr
    assert RedisServer.password not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_runbook_sites_lists_sites_queues_and_workers(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "runbook", "sites", "--lab", str(site_lab)],
        cwd=REPO, env=controller_env(redis_server), capture_output=True, text=True, timeout=60,
        check=False)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split("\t")[0]: line for line in proc.stdout.splitlines()}
    assert set(lines) == {"east", "west", "north"}
    assert "queue runbook.site.east" in lines["east"]
    assert "east@" in lines["east"] and "west@" not in lines["east"]
    assert "west@" in lines["west"]
    assert lines["north"].endswith("workers: none")


def test_a_secret_unset_on_the_worker_fails_that_sites_hosts_naming_it(
        running: SiteWorkers, sshd_lab: SshdLab, redis_server: RedisServer,
        tmp_path: Path) -> None:
    lab = lab_doc(sshd_lab, redis_server, tmp_path / "pw.yml")
    text = lab.read_text().replace("site: east", "site: east\n    password: \"{{ secret('H_PW') }}\"", 1)
    lab.write_text(text)
    book = 'name: pw\nsteps:\n  - {name: one, hosts: "^h0[1-6]$", run: "true"}\n'
    proc, report = apply(tmp_path, lab, book, controller_env(redis_server, H_PW="controller-has-it"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    first = report["steps"][0]["results"]
    assert first["h03"]["status"] == "error"
    assert first["h03"]["message"].startswith("site east: ")
    assert "RUNBOOK_SECRET_H_PW" in first["h03"]["message"]
    assert str(tmp_path / "pw.yml") in first["h03"]["message"]  # the controller's path, not the worker's
    assert first["h01"]["status"] == first["h05"]["status"] == "success"
    assert "controller-has-it" not in json.dumps(report)


def test_a_worker_stops_cleanly_on_sigterm(workers: SiteWorkers) -> None:
    workers.start("north")
    assert workers.stop("north", signal.SIGTERM) == 0
    log = workers.log_text("north")
    assert "Traceback" not in log
    assert "north@" in log
