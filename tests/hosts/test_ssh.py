"""SSH specifics of RemoteHost against the real sshd lab: connection failures, jump host, reuse."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from runbook import HostUnreachableError, RemoteHost, Status

Factory = Callable[..., RemoteHost]


def unreachable(host: RemoteHost) -> HostUnreachableError:
    """Run a command on `host`, expecting HostUnreachableError; return it."""

    async def attempt() -> None:
        try:
            await host.run("true")
        finally:
            await host.close()

    with pytest.raises(HostUnreachableError) as caught:
        asyncio.run(attempt())
    err = caught.value
    assert err.host_id == host.id
    assert err.address == host.address
    assert host.id in str(err)
    assert host.address in str(err)
    return err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_connection_refused() -> None:
    port = free_port()
    err = unreachable(RemoteHost("gone", "127.0.0.1", port=port, connect_timeout=3))
    assert "connection refused" in err.cause
    assert f"host 'gone' (127.0.0.1:{port}) is unreachable: connection refused" == str(err)
    assert err.detail == f"127.0.0.1:{port}: connection refused"


def test_unknown_host_name() -> None:
    err = unreachable(RemoteHost("dns", "no-such-host.invalid", connect_timeout=3))
    assert err.cause


def test_wrong_key_is_an_auth_failure(ssh_host_factory: Factory, tmp_path: Any) -> None:
    other_key = tmp_path / "other"
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    err = unreachable(ssh_host_factory(1, key=other_key, agent=False))
    assert "authentication failed" in err.cause


def test_unknown_host_key_is_refused_unless_checking_is_off(
    ssh_host_factory: Factory, tmp_path: Any
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    err = unreachable(ssh_host_factory(2, known_hosts=empty))
    assert "host_key_checking: false" in err.cause

    async def opted_out() -> str:
        host = ssh_host_factory(2, known_hosts=empty, host_key_checking=False)
        try:
            return (await host.oneshot("echo trusted")).output
        finally:
            await host.close()

    assert asyncio.run(opted_out()) == "trusted\n"


def test_silent_server_times_out_within_connect_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepts in the kernel backlog, never speaks SSH
        port = listener.getsockname()[1]
        started = time.monotonic()
        err = unreachable(RemoteHost("mute", "127.0.0.1", port=port, connect_timeout=1))
        elapsed = time.monotonic() - started
    assert "1 s" in err.cause or "timed out" in err.cause.lower(), err.cause
    assert elapsed < 10, "a silent server must not hang the caller"


def test_jump_host(ssh_host_factory: Factory) -> None:
    async def scenario() -> str:
        jump = ssh_host_factory(3)
        target = ssh_host_factory(4, hop=jump)
        try:
            result = await target.oneshot("echo $SSH_CONNECTION")
            assert result.status is Status.Success
            return result.output
        finally:
            await target.close()
            await jump.close()

    client_ip, _, server_ip, _ = asyncio.run(scenario()).split()
    assert server_ip == "127.0.0.6"  # host index 4
    assert client_ip == "127.0.0.1"  # the tunnel leaves from the jump host's sshd


def test_unreachable_jump_host_names_both(ssh_host_factory: Factory) -> None:
    port = free_port()
    jump = RemoteHost("deadhop", "127.0.0.1", port=port, connect_timeout=2)
    target = ssh_host_factory(4, hop=jump)
    err = unreachable(target)
    assert f"({target.address}:{target.port})" in str(err)
    assert f"jump host 'deadhop' (127.0.0.1:{port}) is unreachable: connection refused" in err.cause
    assert "host host" not in str(err)


def test_failure_behind_a_jump_host_names_the_route(ssh_host_factory: Factory) -> None:
    jump = ssh_host_factory(3)
    port = free_port()
    err = unreachable(ssh_host_factory(4, port=port, hop=jump))
    assert err.detail == (f"127.0.0.6:{port} through jump host 'h04' (127.0.0.5:{jump.port}): "
                          "connection refused"), err.detail


def test_dead_connection_is_reopened(ssh_host_factory: Factory) -> None:
    async def scenario() -> None:
        host = ssh_host_factory(5)
        try:
            await host.run("cd /tmp")
            first = await host.connection()
            first.abort()
            await asyncio.sleep(0.1)
            result = await host.oneshot("echo again")
            assert result.output == "again\n"
            assert await host.connection() is not first
            assert (await host.run("pwd")).only.status is Status.Success
        finally:
            await host.close()

    asyncio.run(scenario())


def test_connection_is_reused(ssh_host_factory: Factory) -> None:
    async def scenario() -> None:
        host = ssh_host_factory(6)
        try:
            await host.oneshot("true")
            conn = await host.connection()
            await host.run("true")
            await host.put(sys.executable, "/tmp/runbook-reuse-test")
            assert await host.connection() is conn
        finally:
            await host.close()

    asyncio.run(scenario())


def test_importing_runbook_does_not_import_asyncssh() -> None:
    import subprocess

    code = "import sys, runbook; print('asyncssh' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_known_hosts_edited_between_connections_is_reread(
    ssh_host_factory: Factory, sshd_lab: Any, tmp_path: Any
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    unreachable(ssh_host_factory(7, known_hosts=known))
    known.write_text(sshd_lab.known_hosts.read_text())

    async def trusted_now() -> str:
        host = ssh_host_factory(7, known_hosts=known)
        try:
            return (await host.oneshot("echo ok")).output
        finally:
            await host.close()

    assert asyncio.run(trusted_now()) == "ok\n"


def test_password_authentication() -> None:
    from tests.faults import FaultSshServer, run_locally

    async def scenario() -> None:
        async with FaultSshServer(run_locally, password="s3cret") as server:
            good = server.remote_host("pw", key=[], password="s3cret")
            bad = server.remote_host("badpw", key=[], password="wrong")
            try:
                assert (await good.oneshot("echo in")).output == "in\n"
                with pytest.raises(HostUnreachableError, match="authentication failed"):
                    await bad.oneshot("true")
            finally:
                await good.close()
                await bad.close()

    asyncio.run(scenario())


def test_agent_authentication(sshd_lab: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not sock.exists():
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.05)
        env = {"SSH_AUTH_SOCK": str(sock), "PATH": "/usr/bin:/bin"}
        subprocess.run(["ssh-add", "-q", str(sshd_lab.client_key)], env=env, check=True,
                       stdin=subprocess.DEVNULL)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.setenv("HOME", str(tmp_path))  # no default key files: only the agent has it

        async def scenario() -> str:
            host = RemoteHost("agent", sshd_lab.addresses[8], port=sshd_lab.port,
                              user=sshd_lab.user, known_hosts=sshd_lab.known_hosts,
                              connect_timeout=5)
            try:
                return (await host.oneshot("echo via agent")).output
            finally:
                await host.close()

        assert asyncio.run(scenario()) == "via agent\n"
    finally:
        agent.terminate()
        agent.wait(timeout=5)


def test_changed_host_key_is_refused(sshd_lab: Any, tmp_path: Any) -> None:
    import subprocess

    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    key_type, key_data = other.with_suffix(".pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sshd_lab.addresses[9]}]:{sshd_lab.port} {key_type} {key_data}\n")
    host = RemoteHost("moved", sshd_lab.addresses[9], port=sshd_lab.port, user=sshd_lab.user,
                      key=sshd_lab.client_key, known_hosts=known, agent=False, connect_timeout=5)
    err = unreachable(host)
    assert "host key not verified" in err.cause


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"id": None}, "host id must be a non-empty string"),
    ({"address": None}, "address must be a non-empty string"),
    ({"port": 70000}, "port must be a number from 1 to 65535"),
    ({"port": "22"}, "port must be a number"),
    ({"connect_timeout": -1}, "connect_timeout must be a positive number"),
    ({"keepalive": float("nan")}, "keepalive must be a positive number"),
    ({"hop": "jump1"}, "hop must be another RemoteHost"),
    ({"power_control": "ipmi"}, "power_control must be a PowerController"),
    ({"max_sessions": 0}, "max_sessions must be a whole number"),
])
def test_nonsense_arguments_are_config_errors(kwargs: dict[str, Any], message: str) -> None:
    from runbook import ConfigError

    settings: dict[str, Any] = {"id": "h", "address": "127.0.0.1", **kwargs}
    with pytest.raises(ConfigError, match=message):
        RemoteHost(settings.pop("id"), settings.pop("address"), **settings)


def test_unresolvable_address_says_what_to_check() -> None:
    err = unreachable(RemoteHost("dns", "no-such-host.invalid", connect_timeout=3))
    assert "cannot resolve the address 'no-such-host.invalid'" in err.cause
    assert "check the host's address in the lab" in err.cause


def test_put_into_existing_new_and_blocked_folders(ssh_host_factory: Factory,
                                                   tmp_path: Any) -> None:
    """The quick folder check (runbook/hosts/sftpdirs.py) in each case it distinguishes."""
    payload = tmp_path / "payload.txt"
    payload.write_text("data")
    (tmp_path / "exists").mkdir()
    (tmp_path / "blocker").write_text("a file where a folder should be")

    async def scenario() -> None:
        host = ssh_host_factory(2)
        try:
            for dest in ("exists", "exists/new", "missing/parents/too"):
                status, message = await host.put(payload, tmp_path / dest)
                assert status is Status.Success, message
                assert (tmp_path / dest / "payload.txt").read_text() == "data"
            for dest in ("blocker", "blocker/below"):
                status, message = await host.put(payload, tmp_path / dest)
                assert status is Status.Error
                assert f"upload to {host.id}:{tmp_path / dest} failed" in message
        finally:
            await host.close()

    asyncio.run(scenario())


def test_releasing_a_connection_ends_its_shell_and_keeps_what_a_step_left_running(
        ssh_host_factory: Factory) -> None:
    """`release_connection()` (after a host's last step) closes the SSH connection politely:
    the idle shell and its watchdog end on the host, a server a step started with `nohup`
    keeps running, and the host reconnects when used again."""
    host = ssh_host_factory(0)
    marker = f"released-{uuid.uuid4().hex}"

    def gone(pid: int) -> bool:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True,
                                   text=True, check=False).stdout.strip()
            if not state or state.startswith("Z"):
                return True
            time.sleep(0.05)
        return False

    async def scenario() -> tuple[list[str], str]:
        pids = (await host.run(f"nohup sh -c 'sleep 300; true {marker}' >/dev/null 2>&1 & "
                               'echo "$$ $__runbook_wd"')).only.output.split()
        await host.release_connection()
        assert all([await asyncio.to_thread(gone, int(pid)) for pid in pids]), pids
        again = (await host.run("echo again")).only.output
        await host.close()
        return pids, again

    try:
        pids, again = asyncio.run(asyncio.wait_for(scenario(), 60))
        assert len(pids) == 2 and again == "again\n"
        found = subprocess.run(["pgrep", "-f", f"sleep 300; true {marker}"], capture_output=True,
                               text=True, check=False).stdout.split()
        assert found, "the step's server did not survive the release"
    finally:
        subprocess.run(["pkill", "-f", marker], check=False)


def _runs_as_group_leader(stat_line: str) -> bool:
    """Whether the process whose /proc/PID/stat is `stat_line` leads its process group: the
    oneshot's process itself (sshd makes each channel's process a group leader), not a child
    of the oneshot's shell."""
    pid = stat_line.split(maxsplit=1)[0]
    pgid = stat_line.rsplit(")", 1)[1].split()[2]
    return pid == pgid


@pytest.mark.parametrize("after_run", [False, True])
def test_a_plain_oneshot_execs_its_command_and_reports_signals_as_a_shell_does(
        ssh_host_factory: Factory, after_run: bool) -> None:
    """A oneshot that is one plain command runs it by `exec` (no shell stays above it: one
    process less per host), guarded by its own watchdog or, after a `run`, the shell's;
    anything else (here a `;`) or a builtin keeps its shell. A command killed by a signal
    gives 128 + N either way (sshd reports a signal, not a status, when no shell is left)."""
    host = ssh_host_factory(4)

    async def scenario() -> None:
        async with host:
            if after_run:
                assert (await host.run("true")).status is Status.Success
            plain = await host.oneshot("cat /proc/self/stat")
            compound = await host.oneshot("cat /proc/self/stat; true")
            assert plain.status is Status.Success and compound.status is Status.Success
            assert _runs_as_group_leader(plain.output), plain.output
            assert not _runs_as_group_leader(compound.output), compound.output
            builtin = await host.oneshot("echo $BASH_VERSION x")
            assert builtin.output.strip().endswith(" x") and len(builtin.output) > 4, builtin
            killed = await host.oneshot("env kill -KILL 0", timeout=20)
            assert (killed.status, killed.retcode) == (Status.Failed, 137), killed
            missing = await host.oneshot("no-such-command-here --flag", timeout=20)
            assert missing.retcode == 127 and "command not found" in missing.output, missing

    asyncio.run(asyncio.wait_for(scenario(), 120))
