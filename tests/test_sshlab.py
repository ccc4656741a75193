"""The SSH test lab itself: real OpenSSH client and asyncssh reach it with host keys checked."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh
import pytest
import yaml

from tests import sshlab
from tests.faults import FaultSshServer, SilentTcpServer, drop_when_input_contains, hang_forever, run_locally
from tests.sshlab import SshdLab, SshdLabError


def _ssh_argv(lab: SshdLab, address: str, known_hosts: Path | None = None) -> list[str]:
    """OpenSSH client argv: batch mode, strict host key checking, only the lab's key."""
    return [
        "ssh",
        "-F", "/dev/null",
        "-i", str(lab.client_key),
        "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts or lab.known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "ConnectTimeout=5",
        "-p", str(lab.port),
        f"{lab.user}@{address}",
    ]  # fmt: skip


def _ssh(lab: SshdLab, address: str, command: str, **kw: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_ssh_argv(lab, address, **kw), command],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=False,
    )


async def _asyncssh_connect(lab: SshdLab, address: str) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        address,
        port=lab.port,
        username=lab.user,
        client_keys=[str(lab.client_key)],
        known_hosts=str(lab.known_hosts),
        agent_path=None,
        config=None,
        connect_timeout=5,
    )


def test_openssh_client_runs_command_with_strict_host_key_checking(sshd_lab: SshdLab) -> None:
    result = _ssh(sshd_lab, "127.0.0.5", "echo ok")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_openssh_client_rejects_lab_without_known_host_entry(sshd_lab: SshdLab, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    result = _ssh(sshd_lab, sshd_lab.addresses[0], "echo ok", known_hosts=empty)
    assert result.returncode == 255
    assert "Host key verification failed" in result.stderr


def test_three_addresses_answer_as_themselves(sshd_lab: SshdLab) -> None:
    async def server_addresses() -> list[str]:
        answers = []
        for address in sshd_lab.addresses[:3]:
            async with await _asyncssh_connect(sshd_lab, address) as conn:
                done = await conn.run("echo $SSH_CONNECTION", check=True, timeout=10)
                answers.append(str(done.stdout).split()[2])
        return answers

    assert asyncio.run(server_addresses()) == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]


def test_every_address_is_in_known_hosts(sshd_lab: SshdLab) -> None:
    entries = sshd_lab.known_hosts.read_text().splitlines()
    assert [line.split()[0] for line in entries] == [
        f"[{address}]:{sshd_lab.port}" for address in sshd_lab.addresses
    ]


def test_channels_beyond_maxsessions_10_are_refused(sshd_lab: SshdLab) -> None:
    async def open_sessions() -> tuple[int, bool]:
        async with await _asyncssh_connect(sshd_lab, sshd_lab.addresses[1]) as conn:
            procs = []
            for _ in range(10):
                procs.append(await conn.create_process("sleep 30"))
            try:
                await conn.create_process("true")
            except asyncssh.ChannelOpenError:
                refused = True
            else:
                refused = False
            for proc in procs:
                proc.close()
        return len(procs), refused

    assert asyncio.run(open_sessions()) == (10, True)


def test_many_concurrent_connections_to_one_address_are_accepted(sshd_lab: SshdLab) -> None:
    async def connect_many(count: int) -> list[str]:
        async def one() -> str:
            async with await _asyncssh_connect(sshd_lab, sshd_lab.addresses[2]) as conn:
                done = await conn.run("echo up", check=True, timeout=20)
            return str(done.stdout)

        return await asyncio.gather(*(one() for _ in range(count)))

    assert asyncio.run(connect_many(60)) == ["up\n"] * 60


def test_lab_yaml_lists_hosts_and_connection_defaults(sshd_lab: SshdLab, tmp_path: Path) -> None:
    path = sshd_lab.lab_yaml(tmp_path / "lab.yaml")
    doc = yaml.safe_load(path.read_text())
    assert doc["defaults"] == {
        "user": sshd_lab.user,
        "port": sshd_lab.port,
        "key": str(sshd_lab.client_key),
        "known_hosts": str(sshd_lab.known_hosts),
        "connect_timeout": 5,
    }
    assert list(doc["hosts"]) == [f"h{i:02d}" for i in range(1, 25)]
    assert doc["hosts"]["h01"] == {"address": "127.0.0.2"}
    assert doc["hosts"]["h24"] == {"address": "127.0.0.25"}


def test_lab_yaml_subset_and_extra_are_merged(sshd_lab: SshdLab, tmp_path: Path) -> None:
    extra = {"vars": {"site": "x"}, "hosts": {"h03": {"vars": {"role": "db"}}}}
    path = sshd_lab.lab_yaml(tmp_path / "lab.yaml", host_ids=["h03", "h01"], extra=extra)
    doc = yaml.safe_load(path.read_text())
    assert doc["vars"] == {"site": "x"}
    assert doc["hosts"] == {
        "h03": {"address": "127.0.0.4", "vars": {"role": "db"}},
        "h01": {"address": "127.0.0.2"},
    }
    with pytest.raises(KeyError, match="h99"):
        sshd_lab.lab_yaml(tmp_path / "bad.yaml", host_ids=["h99"])


def test_restart_drops_sessions_and_serves_again_on_same_port_and_key(sshd_binary: Path) -> None:
    with SshdLab(n_hosts=2) as lab:
        port = lab.port

        async def session_dies_on_stop() -> int | None:
            async with await _asyncssh_connect(lab, lab.addresses[0]) as conn:
                proc = await conn.create_process("echo started; sleep 60")
                assert await proc.stdout.readline() == "started\n"
                lab.stop()
                assert not lab.running
                with pytest.raises(OSError):
                    socket.create_connection((lab.addresses[0], port), timeout=2).close()
                await asyncio.wait_for(proc.wait_closed(), 10)
            return proc.returncode

        # Killed: either no exit status at all, or sshd reports the session's SIGKILL first.
        assert asyncio.run(session_dies_on_stop()) in (None, -9)
        lab.start()
        assert lab.port == port
        result = _ssh(lab, lab.addresses[1], "echo back")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "back\n"
        lab.restart()
        assert _ssh(lab, lab.addresses[0], "echo again").stdout == "again\n"


def test_lab_beyond_16_addresses_spans_several_sshd_processes(sshd_binary: Path) -> None:
    with SshdLab(n_hosts=40) as lab:
        assert lab.host_ids[-1] == "h40"
        for address in (lab.addresses[0], lab.addresses[16], lab.addresses[39]):
            result = _ssh(lab, address, "echo $SSH_CONNECTION")
            assert result.returncode == 0, result.stderr
            assert result.stdout.split()[2] == address


def test_start_failure_raises_with_sshd_log(sshd_binary: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.2", 0))
        blocker.listen()
        lab = SshdLab(n_hosts=1, port=blocker.getsockname()[1])
        try:
            with pytest.raises(SshdLabError, match="sshd exited") as failure:
                lab.start()
            assert "Address already in use" in str(failure.value)
        finally:
            lab.close()


def test_ssh_host_factory_makes_remote_hosts_on_lab_addresses(
    ssh_host_factory: Callable[..., Any],
) -> None:
    first, fifth = ssh_host_factory(), ssh_host_factory(4)
    assert (first.id, first.address, fifth.id, fifth.address) == (
        "h01",
        "127.0.0.2",
        "h05",
        "127.0.0.6",
    )

    async def server_address(host: Any) -> str:
        try:
            return str((await host.oneshot("echo $SSH_CONNECTION")).output).split()[2]
        finally:
            await host.close()

    assert asyncio.run(server_address(fifth)) == "127.0.0.6"


# --------------------------------------------------------------------------- fault servers
async def _fault_connect(server: FaultSshServer, **options: Any) -> asyncssh.SSHClientConnection:
    settings: dict[str, Any] = {
        "port": server.port,
        "username": server.user,
        "client_keys": [str(server.client_key)],
        "known_hosts": str(server.known_hosts),
        "agent_path": None,
        "config": None,
        "connect_timeout": 5,
    }
    settings.update(options)
    return await asyncssh.connect(server.address, **settings)


def test_silent_tcp_server_makes_ssh_connect_time_out() -> None:
    async def connect(port: int) -> None:
        await asyncssh.connect("127.0.0.1", port=port, known_hosts=None, config=None, connect_timeout=0.5)

    with SilentTcpServer() as silent:
        with pytest.raises(asyncio.TimeoutError):
            asyncio.run(connect(silent.port))
        assert silent.accepted == 1


def test_fault_server_runs_commands_locally_with_checked_host_key() -> None:
    async def scenario() -> tuple[str, int | None]:
        async with FaultSshServer(run_locally) as server, await _fault_connect(server) as conn:
            done = await conn.run("echo hi; exit 3", timeout=10)
        return str(done.stdout), done.exit_status

    assert asyncio.run(scenario()) == ("hi\n", 3)


def test_fault_server_with_authorized_key_refuses_other_keys(tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    other.write_private_key(str(tmp_path / "other"))

    async def scenario() -> None:
        allowed = asyncssh.generate_private_key("ssh-ed25519")
        allowed.write_public_key(str(tmp_path / "allowed.pub"))
        async with FaultSshServer(run_locally, authorized_key=tmp_path / "allowed.pub") as server:
            with pytest.raises(asyncssh.PermissionDenied):
                await _fault_connect(server, client_keys=[str(tmp_path / "other")])
            with pytest.raises(asyncssh.PermissionDenied):
                await _fault_connect(server)  # the server's own generated client key

    asyncio.run(scenario())


def test_drop_handler_answers_first_command_then_cuts_connection() -> None:
    async def scenario() -> bytes:
        handler = drop_when_input_contains(b"sleep 30")
        async with FaultSshServer(handler) as server, await _fault_connect(server) as conn:
            shell = await conn.create_process(encoding=None)
            shell.stdin.write(b"echo one\n")
            first: bytes = await asyncio.wait_for(shell.stdout.readline(), 10)
            shell.stdin.write(b"sleep 30; echo two\n")
            with pytest.raises(asyncssh.ConnectionLost):
                await asyncio.wait_for(shell.stdout.read(), 10)
            await asyncio.wait_for(conn.wait_closed(), 10)
        return first

    assert asyncio.run(scenario()) == b"one\n"


def test_hang_handler_never_answers() -> None:
    async def scenario() -> None:
        async with FaultSshServer(hang_forever) as server, await _fault_connect(server) as conn:
            with pytest.raises(asyncssh.TimeoutError):
                await conn.run("echo never", timeout=0.3)

    asyncio.run(scenario())


# --------------------------------------------------------------------------- missing sshd
@pytest.mark.parametrize(
    ("ci", "outcome"),
    [("true", pytest.fail.Exception), ("1", pytest.fail.Exception), (None, pytest.skip.Exception),
     ("false", pytest.skip.Exception)],
)  # fmt: skip
def test_missing_sshd_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(sshlab, "SSHD", Path("/nonexistent/sbin/sshd"))
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="openssh-server"):
        sshlab.require_sshd()
