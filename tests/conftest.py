"""Shared fixtures: the real-OpenSSH lab (`sshd_lab`), a factory of RemoteHosts on it, and a
real redis-server (`redis_server`, `own_redis_server`) for the lock tests.

Tests that use `sshd_lab`, `ssh_host_factory` or `sshd_binary` get the `sshd` marker, so
``pytest -m "not sshd"`` runs everything that needs no sshd.  Without /usr/sbin/sshd those tests
are skipped with an install hint, except under CI (env ``CI`` set), where they fail: CI must never
silently skip the SSH contract.
"""

from __future__ import annotations

import asyncio
import inspect
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Test modules import helpers as `tests.sshlab`; plain `pytest` (unlike `python -m pytest`) does
# not put the repository root on sys.path.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.locks.redislab import RedisServer, require_redis  # noqa: E402
from tests.sshlab import SSHD, SshdLab, require_sshd  # noqa: E402
from tests.sudolab import SudoAccounts, allow_lab_logins, require_sudo  # noqa: E402

#: Fixtures of the console peers (telnetd, serial line, FRR): tests/peers/fixtures.py.
pytest_plugins = ["tests.peers.fixtures"]

if TYPE_CHECKING:
    from runbook.hosts.ssh import RemoteHost

#: Hosts in the session lab; tests pick them by index (0 -> h01 at 127.0.0.2).
LAB_HOSTS = 24
TEARDOWN_CLOSE_TIMEOUT = 10.0
_SSHD_FIXTURES = frozenset({"sshd_binary", "sshd_lab", "ssh_host_factory"})

RemoteHostFactory = Callable[..., "RemoteHost"]
_SESSION_LAB: SshdLab | None = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that (directly or through another fixture) needs the sshd lab."""
    for item in items:
        if _SSHD_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.sshd)


@pytest.fixture(scope="session")
def sshd_binary() -> Path:
    """Path of sshd; for tests that build their own ``SshdLab`` (skip/fail as documented)."""
    require_sshd()
    return SSHD


@pytest.fixture(scope="session")
def sshd_lab(sshd_binary: Path) -> Iterator[SshdLab]:
    """A running SshdLab with 24 loopback hosts, shared by the whole test session.

    Tests that stop it should start it again (``restart()`` does); if one fails half-way, the
    next test finds the lab restarted by ``_revive_session_lab``.
    """
    global _SESSION_LAB
    with SshdLab(n_hosts=LAB_HOSTS) as lab:
        _SESSION_LAB = lab
        try:
            yield lab
        finally:
            _SESSION_LAB = None


@pytest.fixture(autouse=True, scope="session")
def _runs_dir_outside_the_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`runbook apply` records every run under .runbook/runs of the current folder; tests run
    it from the repository, so point RUNBOOK_RUNS_DIR (inherited by subprocesses) elsewhere."""
    import os

    before = os.environ.get("RUNBOOK_RUNS_DIR")
    os.environ["RUNBOOK_RUNS_DIR"] = str(tmp_path_factory.mktemp("runs"))
    yield
    if before is None:
        os.environ.pop("RUNBOOK_RUNS_DIR", None)
    else:
        os.environ["RUNBOOK_RUNS_DIR"] = before


@pytest.fixture(scope="session")
def sudo_accounts(sshd_lab: SshdLab) -> Iterator[SudoAccounts]:
    """Sudo test users (NOPASSWD, with password, not in sudoers) who can log in to the lab."""
    require_sudo()
    allow_lab_logins(sshd_lab.directory, sshd_lab.authorized_keys)
    with SudoAccounts() as accounts:
        yield accounts


@pytest.fixture(autouse=True)
def _revive_session_lab() -> None:
    """Restart the session lab before a test if an earlier test left it stopped."""
    if _SESSION_LAB is not None and not _SESSION_LAB.running:
        _SESSION_LAB.restart()


@pytest.fixture
def ssh_host_factory(sshd_lab: SshdLab) -> Iterator[RemoteHostFactory]:
    """``make(index=0, **overrides) -> RemoteHost`` for lab host ``index`` (h01 = index 0).

    Defaults: id ``h01``.., address, port, user, key, known_hosts from the lab, host key
    checking on, ``connect_timeout=5``, no ssh-agent (tests stay hermetic); any keyword
    overrides them.  Hosts are closed at teardown; close them inside your own ``asyncio.run``
    when you can, since asyncssh connections belong to the loop that opened them.
    """
    made: list[RemoteHost] = []

    def make(index: int = 0, **overrides: Any) -> RemoteHost:
        from runbook.hosts.ssh import RemoteHost

        settings: dict[str, Any] = {
            "port": sshd_lab.port,
            "user": sshd_lab.user,
            "key": sshd_lab.client_key,
            "known_hosts": sshd_lab.known_hosts,
            "connect_timeout": 5.0,
        }
        if "agent" in inspect.signature(RemoteHost).parameters:
            settings["agent"] = False
        settings.update(overrides)
        host_id = settings.pop("id", sshd_lab.host_ids[index])
        address = settings.pop("address", sshd_lab.addresses[index])
        host = RemoteHost(host_id, address, **settings)
        made.append(host)
        return host

    yield make
    for host in made:
        _close_quietly_if_loop_gone(host)


def _close_quietly_if_loop_gone(host: RemoteHost) -> None:
    """Close ``host`` in a fresh loop, bounded in time.

    A connection opened in a test's own (now finished) ``asyncio.run`` cannot be driven from
    another loop; such a host is dropped rather than letting teardown fail or hang.
    """

    async def bounded_close() -> None:
        await asyncio.wait_for(host.close(), TEARDOWN_CLOSE_TIMEOUT)

    try:
        asyncio.run(bounded_close())
    except TimeoutError:
        pass
    except RuntimeError as exc:
        if "Event loop is closed" not in str(exc) and "different loop" not in str(exc):
            raise


@pytest.fixture(autouse=True)
def _restore_signal_state() -> Iterator[None]:
    """Undo what an in-process CLI run (CliRunner) did to signals.

    `runbook apply` owns its process: it installs SIGINT/SIGTERM handlers and blocks both just
    before exiting. Run in-process, that would leave pytest (and every subprocess a later test
    starts, which inherits the mask) deaf to signals.
    """
    handled = (signal.SIGINT, signal.SIGTERM)
    handlers = {sig: signal.getsignal(sig) for sig in handled}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on loopback shared by a module's tests (each test its own
    namespace); skipped without redis-server, failed under CI (tests/locks/redislab.py)."""
    require_redis()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for one test, which may stop it."""
    require_redis()
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _private_lock_store(tmp_path_factory: pytest.TempPathFactory,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test (and the `runbook` processes it starts) keeps its file-backend lab locks in a
    folder of its own: tests reuse lab names and host ids, and a test that kills a run leaves
    its leases behind until they expire."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
