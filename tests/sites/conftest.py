"""Fixtures for multi-site tests: a real redis-server on loopback and real `runbook worker`s.

`redis_server` starts one redis-server for the module (free port, no persistence, readiness
polled with a deadline). Without redis-server the tests are skipped with an install hint,
except under CI (env CI set), where they fail: CI must never silently skip the broker.
`site_lab` is the module's lab file (tests/sites/sitelab.py), `workers` its two `runbook worker`
processes (sites east and west, started once per module), `running` both of them up again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.locks.redislab import REDIS_SERVER, free_port, require_redis
from tests.sites.sitelab import SITE_TOKEN, lab_doc
from tests.sshlab import SshdLab

__all__ = ["RedisServer", "SiteWorkers", "require_redis"]

REPO = Path(__file__).resolve().parents[2]
READY_DEADLINE = 60.0  # a worker imports celery: slow on a loaded machine


class RedisServer:
    """One redis-server process on 127.0.0.1 with a password (the broker's secret)."""

    password = "broker-pw-7f3a"

    def __init__(self, directory: Path, *, tls: bool = False) -> None:
        self.port = free_port()
        self.log = directory / "redis.log"
        self.ca = directory / "ca.pem"
        listen = ["--port", str(self.port)]
        if tls:
            make_certificates(directory)
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no",
                      "--tls-cert-file", str(directory / "server.pem"),
                      "--tls-key-file", str(directory / "server.key"),
                      "--tls-ca-cert-file", str(self.ca)]
        self.tls = tls
        self.proc = subprocess.Popen(
            [REDIS_SERVER, *listen, "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--requirepass", self.password, "--dir", str(directory),
             "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss://:{self.password}@127.0.0.1:{self.port}/0?ssl_ca_certs={self.ca}"
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5)

    def _wait_ready(self) -> None:
        import redis

        deadline = time.monotonic() + READY_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log.read_text(errors='replace')}")
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server not ready after {READY_DEADLINE}s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def make_certificates(directory: Path) -> None:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl)."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "1", "-subj", "/CN=runbook test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=127.0.0.1")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "san.ext")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require_redis()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


class SiteWorkers:
    """`runbook worker` processes by site, started from the repository with PYTHONPATH set."""

    def __init__(self, lab: Path, directory: Path, env: dict[str, str]) -> None:
        self.lab = lab
        self.directory = directory
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, site: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.directory / f"worker-{site}.log"
        log.write_bytes(b"")
        proc = subprocess.Popen(
            [sys.executable, "-m", "runbook", "worker", "--lab", str(self.lab), "--site", site, *args],
            cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
            start_new_session=True)
        self.procs[site] = proc
        deadline = time.monotonic() + READY_DEADLINE
        while b" ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {site} not ready: {self.log_text(site)}")
            time.sleep(0.05)
        return proc

    def ensure(self, *sites: str) -> None:
        for site in sites:
            proc = self.procs.get(site)
            if proc is None or proc.poll() is not None:
                self.start(site)

    def log_text(self, site: str) -> str:
        return (self.directory / f"worker-{site}.log").read_text(errors="replace")

    def stop(self, site: str, sig: int = signal.SIGTERM) -> int | None:
        proc = self.procs.pop(site, None)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(10)

    def stop_all(self) -> None:
        for site in list(self.procs):
            self.stop(site)


@pytest.fixture(scope="module")
def site_lab(sshd_lab: SshdLab, redis_server: RedisServer,
             tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lab_doc(sshd_lab, redis_server, tmp_path_factory.mktemp("sites") / "lab.yml")


@pytest.fixture(scope="module")
def workers(site_lab: Path, redis_server: RedisServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteWorkers]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RUNBOOK_SECRET_BROKER": redis_server.password,
           "RUNBOOK_SECRET_SITE_TOKEN": SITE_TOKEN}
    pool = SiteWorkers(site_lab, tmp_path_factory.mktemp("workers"), env)
    pool.ensure("east", "west")
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def running(workers: SiteWorkers) -> SiteWorkers:
    """Both workers up (a test may have killed one)."""
    workers.ensure("east", "west")
    return workers
