"""`become` on real hosts: sshd lab logins as the sudo test users, real sudo (tests/sudolab.py)."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runbook.errors import BecomeError
from runbook.hosts.local import LocalHost
from runbook.hosts.ssh import RemoteHost
from tests.sudolab import SudoAccounts

#: Upper bound for a failing sudo: far above the ~2 s PAM delay, far below a hang.
FAIL_FAST = 20.0

Make = Callable[..., RemoteHost]


@pytest.fixture
def as_user(ssh_host_factory: Make, sudo_accounts: SudoAccounts) -> Callable[..., RemoteHost]:
    """`as_user(login, index, **overrides)`: a lab host logged in as a sudo test user."""

    def make(login: str, index: int = 5, **overrides: Any) -> RemoteHost:
        return ssh_host_factory(index, user=login, **overrides)

    return make


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))


def test_become_run_keeps_its_own_shell_state(as_user: Make, sudo_accounts: SudoAccounts) -> None:
    host = as_user(sudo_accounts.withpass, become_password=sudo_accounts.password)

    async def scenario() -> tuple[str, str, str]:
        async with host:
            await host.run("cd /etc && export RB_MARK=kept", become=True)
            became = await host.run("pwd; id -un; echo $RB_MARK", become=True)
            plain = await host.run("id -un; echo ${RB_MARK:-unset}")
            again = await host.run("pwd", become=True)
        return became.output, plain.output, again.output

    became, plain, again = run(scenario())
    assert became == "/etc\nroot\nkept\n"
    assert plain == f"{sudo_accounts.withpass}\nunset\n"
    assert again == "/etc\n"


def test_become_oneshot_as_root_and_as_another_user(as_user: Make,
                                                    sudo_accounts: SudoAccounts) -> None:
    host = as_user(sudo_accounts.nopass)

    async def scenario() -> list[str]:
        async with host:
            results = [await host.oneshot("id -un", become=True),
                       await host.oneshot("id -un", become=True,
                                          become_user=sudo_accounts.nosudo),
                       await host.oneshot("id -un")]
        assert all(r.status.is_ok for r in results), results
        return [r.output for r in results]

    assert run(scenario()) == ["root\n", f"{sudo_accounts.nosudo}\n", f"{sudo_accounts.nopass}\n"]


def test_host_default_become_applies_to_every_call(as_user: Make,
                                                   sudo_accounts: SudoAccounts) -> None:
    host = as_user(sudo_accounts.withpass, become=True, become_password=sudo_accounts.password)

    async def scenario() -> tuple[str, str]:
        async with host:
            return ((await host.oneshot("id -un")).output,
                    (await host.oneshot("id -un", become=False)).output)

    assert run(scenario()) == ("root\n", f"{sudo_accounts.withpass}\n")


def test_become_put_owner_and_mode(as_user: Make, sudo_accounts: SudoAccounts,
                                   tmp_path: Path) -> None:
    host = as_user(sudo_accounts.withpass, become_password=sudo_accounts.password)
    source = tmp_path / "app.conf"
    source.write_text("setting = 1\n")
    dest = f"/root/rbtest-{secrets.token_hex(4)}"
    other = f"/tmp/rbtest-{secrets.token_hex(4)}"

    async def scenario() -> tuple[str, str, str]:
        async with host:
            status, message = await host.put(source, dest, mode=0o640, become=True)
            assert status.is_ok, message
            stat = await host.oneshot(f"stat -c '%U %a' {dest}/app.conf; cat {dest}/app.conf",
                                      become=True)
            status, message = await host.put([source], other, become=True,
                                             become_user=sudo_accounts.nopass)
            assert status.is_ok, message
            owner = await host.oneshot(f"stat -c %U {other}/app.conf")
            leftovers = await host.oneshot("ls -a /tmp | grep -c '^.runbook-put' || true")
            await host.oneshot(f"rm -rf {dest} {other}", become=True)
            return stat.output, owner.output, leftovers.output

    stat, owner, leftovers = run(scenario())
    assert stat == "root 640\nsetting = 1\n"
    assert owner == f"{sudo_accounts.nopass}\n"
    assert leftovers.strip() == "0"


def test_become_get_of_a_root_only_file(as_user: Make, sudo_accounts: SudoAccounts,
                                        tmp_path: Path) -> None:
    host = as_user(sudo_accounts.nopass)
    remote = f"/root/rbtest-secret-{secrets.token_hex(4)}"

    async def scenario() -> tuple[Any, Any]:
        async with host:
            made = await host.oneshot(f"umask 077; printf 'root only\\n' > {remote}; "
                                      f"stat -c '%U %a' {remote}", become=True)
            assert made.output == "root 600\n"
            plain = await host.get(remote, tmp_path / "plain")
            got = await host.get(remote, tmp_path / "become", become=True)
            await host.oneshot(f"rm -f {remote}", become=True)
            return plain, got

    plain, got = run(scenario())
    assert not plain[0].is_ok  # the login user cannot read it
    assert got[0].is_ok, got[1]
    assert (tmp_path / "become" / Path(remote).name).read_text() == "root only\n"


@pytest.mark.parametrize("case", ["wrong password", "no password", "not in sudoers"])
def test_sudo_failures_are_fast_and_name_the_user(as_user: Make, sudo_accounts: SudoAccounts,
                                                  case: str) -> None:
    login, password, expected = {
        "wrong password": (sudo_accounts.withpass, "not-the-password", "rejected"),
        "no password": (sudo_accounts.withpass, None, "become_password"),
        "not in sudoers": (sudo_accounts.nosudo, sudo_accounts.password, "sudoers"),
    }[case]
    host = as_user(login, become_password=password)

    async def scenario() -> list[BecomeError]:
        errors = []
        async with host:
            for call in (host.oneshot("true", become=True), host.run("true", become=True)):
                with pytest.raises(BecomeError) as caught:
                    await asyncio.wait_for(call, FAIL_FAST)
                errors.append(caught.value)
            assert (await host.oneshot("echo still fine")).output == "still fine\n"
        return errors

    for error in run(scenario()):
        assert "'root'" in str(error) and expected in str(error)
        assert sudo_accounts.password not in str(error)


def test_password_is_in_no_process_list_environment_or_output(
        as_user: Make, sudo_accounts: SudoAccounts) -> None:
    host = as_user(sudo_accounts.withpass, become_password=sudo_accounts.password)
    token = secrets.token_hex(6)

    async def scenario() -> tuple[list[str], str]:
        seen: list[str] = []
        async with host:
            running = asyncio.create_task(
                host.run(f"sh -c 'sleep 30; : {token}'", become=True, timeout=60))
            deadline = asyncio.get_running_loop().time() + 30
            while not any(token in line for line in seen):
                assert asyncio.get_running_loop().time() < deadline, "command never showed up"
                seen = (await asyncio.to_thread(_process_lists)).splitlines()
                await asyncio.sleep(0.1)
            seen += [await asyncio.to_thread(_all_environments)]
            one = await host.oneshot(f"echo {token}", become=True)
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
        return seen, one.output

    seen, output = run(scenario())
    assert not [line for line in seen if sudo_accounts.password in line]
    assert sudo_accounts.password not in output


def _process_lists() -> str:
    """`ps` as a user sees it, plus every whole command line (`ps` cuts long ones)."""
    listing = subprocess.run(["ps", "-eo", "user,args"], capture_output=True, text=True,
                             check=True).stdout
    return listing + "\n" + "\n".join(_command_lines())


def _all_environments() -> str:
    texts = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            texts.append(environ.read_bytes().decode(errors="replace"))
        except OSError:
            continue
    return "\n".join(texts)


def test_local_host_becomes_with_sudo(sudo_accounts: SudoAccounts, tmp_path: Path) -> None:
    host = LocalHost(become_user=sudo_accounts.nopass)
    source = tmp_path / "f.txt"
    source.write_text("x\n")

    async def scenario() -> tuple[str, str, str]:
        async with host:
            await host.run("cd /tmp", become=True)
            shell = await host.run("pwd; id -un", become=True)
            once = await host.oneshot("id -un", become=True)
            dest = f"/tmp/rbtest-{secrets.token_hex(4)}"
            status, message = await host.put(source, dest, mode=0o600, become=True)
            assert status.is_ok, message
            stat = await host.oneshot(f"stat -c '%U %a' {dest}/f.txt; rm -rf {dest}",
                                      become=True)
        return shell.output, once.output, stat.output

    shell, once, stat = run(scenario())
    assert shell == f"/tmp\n{sudo_accounts.nopass}\n"
    assert once == f"{sudo_accounts.nopass}\n"
    assert stat == f"{sudo_accounts.nopass} 600\n"


def test_lab_file_become_settings_reach_the_host(sshd_lab: Any, sudo_accounts: SudoAccounts,
                                                 tmp_path: Path) -> None:
    from runbook.language.labfile import load_lab
    from runbook.render.secrets import SecretStore

    lab_file = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h09"], extra={
        "defaults": {"user": sudo_accounts.withpass, "agent": False, "become": True,
                     "become_password": "{{ secret('sudo_pw') }}"}})
    secrets_store = SecretStore(environ={"RUNBOOK_SECRET_SUDO_PW": sudo_accounts.password})
    host = load_lab(lab_file, secrets=secrets_store)["h09"]

    async def scenario() -> str:
        async with host:
            return (await host.oneshot("id -un")).output

    assert run(scenario()) == "root\n"


def test_reachability_does_not_depend_on_sudo(as_user: Make, sudo_accounts: SudoAccounts) -> None:
    host = as_user(sudo_accounts.withpass, become=True, become_password="wrong")

    async def scenario() -> bool:
        async with host:
            return await host.is_reachable()

    assert run(scenario()) is True


def test_missing_sudo_is_named(tmp_path: Path) -> None:
    class NoSudoHost(LocalHost):
        async def _open_command_channel(self, command: str) -> Any:
            # The same host with a PATH where sudo cannot be found.
            return await super()._open_command_channel(f"PATH={tmp_path}; {command}")

    async def scenario() -> None:
        async with NoSudoHost() as host:
            await asyncio.wait_for(host.oneshot("true", become=True), FAIL_FAST)

    with pytest.raises(BecomeError, match="cannot become 'root': sudo is not installed"):
        run(scenario())


def test_closing_a_local_host_ends_its_become_shell(sudo_accounts: SudoAccounts) -> None:
    host = LocalHost(become_user=sudo_accounts.nopass)

    async def scenario() -> str:
        pid = (await host.run("echo $$", become=True)).output.strip()
        await host.close()
        return pid

    pid = run(scenario())
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_a_become_oneshot_command_is_in_no_process_list(as_user: Make,
                                                        sudo_accounts: SudoAccounts) -> None:
    """`sudo ... /bin/sh -c '<marker>; eval CMD'` showed a rendered command (and any secret
    in it) to every user's `ps`."""
    host = as_user(sudo_accounts.withpass, become_password=sudo_accounts.password)
    token = f"tok{secrets.token_hex(8)}"

    async def scenario() -> tuple[list[str], str]:
        seen: list[str] = []
        async with host:
            task = asyncio.create_task(host.oneshot(
                f"X={token}; sleep 1; echo \"$X\" $(id -un)", become=True, timeout=60))
            while not task.done():  # /proc: `ps` cuts long command lines
                lines = await asyncio.to_thread(_command_lines)
                seen += [line for line in lines if token in line]
                await asyncio.sleep(0.05)
            return seen, task.result().output

    seen, output = run(scenario())
    assert output == f"{token} root\n" and seen == []


def _command_lines() -> list[str]:
    """Every process's whole command line (the sshd lab's hosts run on this machine)."""
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().decode(errors="replace"))
        except OSError:
            continue
    return lines
