"""A multi-site run over `rediss://`: the broker's certificate is verified (CA from the URL);
without the CA (the system's store does not know the test CA) the broker is refused, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sites.conftest import RedisServer, SiteWorkers, require_redis
from tests.sshlab import SshdLab

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require_redis()
    server = RedisServer(tmp_path_factory.mktemp("redis-tls"), tls=True)
    try:
        yield server
    finally:
        server.stop()


def tls_lab(sshd_lab: SshdLab, redis: RedisServer, path: Path, *, with_ca: bool = True) -> Path:
    query = f"?ssl_ca_certs={redis.ca}" if with_ca else ""
    return sshd_lab.lab_yaml(path, host_ids=["h01", "h03"], extra={
        "broker": f"rediss://:{{{{ secret('BROKER') }}}}@127.0.0.1:{redis.port}/0{query}",
        "sites": {"east": {}}, "hosts": {"h03": {"site": "east"}}})


def run(args: list[str], redis: RedisServer) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RUNBOOK_SECRET_BROKER": redis.password}
    return subprocess.run([sys.executable, "-m", "runbook", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_run_over_tls_with_the_ca_from_the_url(
        sshd_lab: SshdLab, tls_redis: RedisServer, tmp_path: Path) -> None:
    lab = tls_lab(sshd_lab, tls_redis, tmp_path / "lab.yml")
    env = {**os.environ, "PYTHONPATH": str(REPO), "RUNBOOK_SECRET_BROKER": tls_redis.password}
    workers = SiteWorkers(lab, tmp_path, env)
    workers.start("east")
    try:
        book = tmp_path / "b.yml"
        book.write_text('name: tls\nsteps:\n  - {name: one, hosts: ".", run: "echo hi"}\n')
        report = tmp_path / "r.json"
        proc = run(["apply", str(book), "--lab", str(lab), "--report-json", str(report)],
                   tls_redis)
    finally:
        workers.stop_all()
    assert proc.returncode == 0, proc.stdout + proc.stderr + workers.log_text("east")
    data = json.loads(report.read_text())
    assert data["sites"] == {"h03": "east"}
    assert data["steps"][0]["results"]["h03"]["status"] == "success"


def test_an_unverifiable_broker_certificate_is_refused(
        sshd_lab: SshdLab, tls_redis: RedisServer, tmp_path: Path) -> None:
    lab = tls_lab(sshd_lab, tls_redis, tmp_path / "lab.yml", with_ca=False)
    proc = run(["sites", "--lab", str(lab)], tls_redis)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "unreachable" in proc.stderr and "certificate verify failed" in proc.stderr
    assert tls_redis.password not in proc.stderr
