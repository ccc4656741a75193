"""The host contract (run / oneshot / put / get / close) on LocalHost and on real OpenSSH."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from runbook import CommandStatus, Host, RunResult, Status
from tests.hosts.conftest import HostFactory

Scenario = Callable[[Host], Awaitable[None]]


def on_host(factory: HostFactory, scenario: Scenario) -> None:
    """Run `scenario` with a fresh host in one event loop, and close the host afterwards."""

    async def main() -> None:
        host = factory()
        try:
            await scenario(host)
        finally:
            await host.close()

    asyncio.run(main())


def test_shell_state_persists_between_calls(host_factory: HostFactory, tmp_path: Path) -> None:
    async def scenario(host: Host) -> None:
        await host.run(f"cd {tmp_path}")
        await host.run("export EXPORTED=yes; plain=kept")
        result = await host.run("pwd; echo $EXPORTED $plain; sh -c 'echo child:$EXPORTED'")
        assert result.only.output == f"{tmp_path}\nyes kept\nchild:yes\n"

    on_host(host_factory, scenario)


def test_list_stops_at_first_failure(host_factory: HostFactory) -> None:
    async def scenario(host: Host) -> None:
        result = await host.run(["echo one", "(exit 7)", "echo never"])
        assert result.status is Status.Failed
        assert [s.status for s in result.statuses] == [Status.Success, Status.Failed, Status.Skipped]
        assert result.statuses[1].retcode == 7
        assert result.statuses[2] == CommandStatus("echo never", "", Status.Skipped, None)

    on_host(host_factory, scenario)


def test_output_is_exactly_what_the_command_wrote(host_factory: HostFactory) -> None:
    async def scenario(host: Host) -> None:
        result = await host.run("echo out1; echo err1 >&2; echo out2; printf 'no newline'")
        assert result.only == CommandStatus(
            "echo out1; echo err1 >&2; echo out2; printf 'no newline'",
            "out1\nerr1\nout2\nno newline", Status.Success, 0,
        )
        empty = await host.run("true")
        assert empty.only.output == ""

    on_host(host_factory, scenario)


def test_command_reading_stdin_does_not_swallow_the_shell(host_factory: HostFactory) -> None:
    async def scenario(host: Host) -> None:
        result = await host.run(["cat; read line; echo read=$line", "echo after"])
        assert [s.output for s in result.statuses] == ["read=\n", "after\n"]

    on_host(host_factory, scenario)


def test_timeout_interrupts_and_keeps_shell_state(host_factory: HostFactory, tmp_path: Path) -> None:
    async def scenario(host: Host) -> None:
        await host.run(f"cd {tmp_path}; KEEP=1")
        timed = (await host.run("echo started; sleep 30; echo finished", timeout=0.5)).only
        assert timed.status is Status.Error
        assert timed.output.startswith("started\n")
        assert "finished" not in timed.output
        assert "timed out after 0.5 s" in timed.output
        after = await host.run("pwd; echo $KEEP")
        assert after.only.output == f"{tmp_path}\n1\n"

    on_host(host_factory, scenario)


def test_timeout_of_a_command_ignoring_term_restarts_the_shell(host_factory: HostFactory) -> None:
    async def scenario(host: Host) -> None:
        await host.run("cd /; LOST=1")
        timed = (await host.run("trap '' TERM; while :; do sleep 0.1; done", timeout=0.3)).only
        assert timed.status is Status.Error
        assert "shell state (cwd, variables) was reset" in timed.output
        after = await host.run("echo ${LOST:-unset}")
        assert after.only.output == "unset\n"

    on_host(host_factory, scenario)


def test_exit_returns_its_code_and_next_run_gets_a_fresh_shell(host_factory: HostFactory) -> None:
    async def scenario(host: Host) -> None:
        await host.run("GONE=1")
        assert (await host.run("exit 3")).only.retcode == 3
        assert (await host.run("echo ${GONE:-fresh}")).only.output == "fresh\n"

    on_host(host_factory, scenario)


def test_concurrent_runs_are_serialized(host_factory: HostFactory, tmp_path: Path) -> None:
    log = tmp_path / "log"

    async def scenario(host: Host) -> None:
        cmds = [f"echo start{i} >> {log}; sleep 0.1; echo end{i} >> {log}" for i in range(4)]
        results = await asyncio.gather(*(host.run(c) for c in cmds))
        assert all(r.status is Status.Success for r in results)

    on_host(host_factory, scenario)
    lines = log.read_text().split()
    pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]
    assert all(a.replace("start", "") == b.replace("end", "") for a, b in pairs), lines


def test_oneshot_is_a_fresh_process(host_factory: HostFactory) -> None:
    async def scenario(host: Host) -> None:
        await host.run("cd /; export ONLY_IN_SHELL=1")
        result = await host.oneshot("echo ${ONLY_IN_SHELL:-no}; echo err >&2; exit 4")
        assert result == CommandStatus(
            "echo ${ONLY_IN_SHELL:-no}; echo err >&2; exit 4", "no\nerr\n", Status.Failed, 4
        )
        await host.oneshot("cd /tmp")
        assert (await host.run("pwd")).only.output == "/\n"

    on_host(host_factory, scenario)


def test_fifty_concurrent_oneshots_all_succeed(host_factory: HostFactory) -> None:
    async def scenario(host: Host) -> None:
        results = await asyncio.gather(*(host.oneshot(f"sleep 0.05; echo {i}") for i in range(50)))
        assert [r.output for r in results] == [f"{i}\n" for i in range(50)]
        assert all(r.status is Status.Success for r in results)

    on_host(host_factory, scenario)


def test_oneshot_timeout_kills_the_process(host_factory: HostFactory) -> None:
    marker = f"oneshot-timeout-{uuid.uuid4().hex[:8]}"

    async def scenario(host: Host) -> None:
        result = await host.oneshot(f"echo partial; sleep 30 # {marker}", timeout=0.5)
        assert result.status is Status.Error
        assert result.output.startswith("partial\n")
        assert "timed out after 0.5 s" in result.output
        assert await no_process_matching(host, marker)

    on_host(host_factory, scenario)


async def no_process_matching(host: Host, text: str, deadline: float = 5.0) -> bool:
    """Poll until no process command line contains `text` (bracket trick: pgrep not matching itself)."""
    pattern = f"[{text[0]}]{text[1:]}"
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while loop.time() < end:
        if (await host.oneshot(f"pgrep -f '{pattern}'")).retcode == 1:
            return True
        await asyncio.sleep(0.1)
    return False


def test_cancel_and_close_leave_no_process_running(host_factory: HostFactory) -> None:
    marker = f"cancel-{uuid.uuid4().hex[:8]}"

    async def scenario(host: Host) -> None:
        run_task = asyncio.create_task(host.run(f"sleep 60 # {marker}-run"))
        await asyncio.sleep(0.5)
        run_task.cancel()
        await asyncio.gather(run_task, return_exceptions=True)
        assert await no_process_matching(host, f"{marker}-run")
        shot = asyncio.create_task(host.oneshot(f"sleep 60 # {marker}-shot"))
        await asyncio.sleep(0.5)
        await host.close()
        await asyncio.gather(shot, return_exceptions=True)
        assert await no_process_matching(host, f"{marker}-shot")

    on_host(host_factory, scenario)


def test_put_and_get_files_and_folders(host_factory: HostFactory, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "tree" / "deep").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "tree" / "deep" / "b.txt").write_text("beta")
    remote = tmp_path / "remote" / "not" / "yet"
    back = tmp_path / "back"

    async def scenario(host: Host) -> None:
        status, message = await host.put([src / "a.txt", src / "tree"], remote, mode=0o640)
        assert status is Status.Success, message
        assert (await host.oneshot(f"cat {remote}/a.txt {remote}/tree/deep/b.txt")).output == "alphabeta"
        status, message = await host.get([str(remote / "a.txt"), str(remote / "tree")], back)
        assert status is Status.Success, message

    on_host(host_factory, scenario)
    assert (remote / "a.txt").stat().st_mode & 0o777 == 0o640
    assert (back / "a.txt").read_text() == "alpha"
    assert (back / "tree" / "deep" / "b.txt").read_text() == "beta"


def test_missing_files_are_clear_errors(host_factory: HostFactory, tmp_path: Path) -> None:
    async def scenario(host: Host) -> None:
        status, message = await host.put(tmp_path / "nope.bin", tmp_path / "dest")
        assert status is Status.Error
        assert "not found" in message
        assert "nope.bin" in message
        status, message = await host.get(str(tmp_path / "nothing-here"), tmp_path / "dest")
        assert status is Status.Error
        assert "nothing-here" in message

    on_host(host_factory, scenario)


def test_async_with_closes(host_factory: HostFactory) -> None:
    async def scenario() -> None:
        async with host_factory() as host:
            assert (await host.oneshot("echo hi")).output == "hi\n"

    asyncio.run(scenario())


def test_run_result_api() -> None:
    ok = CommandStatus("a", "x", Status.Success, 0)
    bad = CommandStatus("b", "y", Status.Error, None)
    result = RunResult.from_statuses([ok, bad])
    assert result.status is Status.Error
    assert result.output == "xy"
    assert repr(RunResult(Status.Success, [ok])) == (
        "RunResult(status=<Status.Success: 0>, statuses=[CommandStatus(command='a', output='x', "
        "status=<Status.Success: 0>, retcode=0)])"
    )
    assert RunResult(Status.Success, [ok]).only is ok
    try:
        _ = result.only
    except ValueError as exc:
        assert "2" in str(exc)
    else:
        raise AssertionError("only must raise with two statuses")
    assert [s.is_ok for s in Status] == [True, False, False, True, False]
    assert CommandStatus._fields == ("command", "output", "status", "retcode")
    assert os.path.basename(__file__) == "test_host_contract.py"


def test_close_ends_an_idle_shell(host_factory: HostFactory) -> None:
    async def scenario() -> None:
        host = host_factory()
        shell_pid = (await host.run("echo $$")).only.output.strip()
        await host.close()
        probe = host_factory()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while (await probe.oneshot(f"kill -0 {shell_pid}")).retcode == 0:
                assert loop.time() < deadline, f"shell {shell_pid} still running after close()"
                await asyncio.sleep(0.1)
        finally:
            await probe.close()

    asyncio.run(scenario())


def test_nothing_leaks_after_close(host_factory: HostFactory, tmp_path: Path) -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    (tmp_path / "f").write_text("x")

    async def work() -> None:
        host = host_factory()
        try:
            for i in range(5):
                await host.run([f"echo {i}", "cd /tmp"])
                await asyncio.gather(*(host.oneshot("true") for _ in range(12)))
                await host.oneshot("sleep 5", timeout=0.1)
                await host.put(tmp_path / "f", tmp_path / "dest")
                await host.get(str(tmp_path / "f"), tmp_path / "back")
        finally:
            await host.close()

    asyncio.run(work())  # warm-up: first use of asyncssh, thread pools, caches
    before = open_fds()
    asyncio.run(work())
    assert open_fds() <= before


def test_bad_arguments_are_refused_before_anything_runs(host_factory: HostFactory) -> None:
    import pytest

    async def scenario(host: Host) -> None:
        with pytest.raises(TypeError, match="command string"):
            await host.run([1])  # type: ignore[list-item]
        with pytest.raises(TypeError, match="one command string"):
            await host.oneshot(["ls"])  # type: ignore[arg-type]
        for timeout in (-1, 0, float("nan"), float("inf")):
            with pytest.raises(ValueError, match="timeout must be a positive number"):
                await host.run("true", timeout=timeout)
            with pytest.raises(ValueError, match="timeout must be a positive number"):
                await host.oneshot("true", timeout=timeout)
        assert (await host.run("echo still fine")).only.output == "still fine\n"

    on_host(host_factory, scenario)


def _command_lines() -> list[bytes]:
    """Every process's command line on this machine (the sshd lab's hosts are here too)."""
    lines = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                lines.append(handle.read())
        except OSError:
            continue
    return lines


def test_a_oneshot_command_is_in_no_process_list(host_factory: HostFactory,
                                                 tmp_path: Path) -> None:
    """A rendered command may hold a secret: `sh -c CMD` showed it to every user's `ps`."""
    token = f"tok{uuid.uuid4().hex}"
    started = tmp_path / "started"

    async def scenario(host: Host) -> None:
        task = asyncio.ensure_future(host.oneshot(
            f"X={token}; touch {started}; sleep 1; echo \"$X\"; printf 'x\\n' | cat",
            timeout=30))
        seen: list[bytes] = []
        while not task.done():
            if started.exists():
                seen += [line for line in _command_lines() if token.encode() in line]
            await asyncio.sleep(0.02)
        status = task.result()
        assert status.status is Status.Success and status.output == f"{token}\nx\n"
        assert seen == []
        assert started.exists()
        quoted = await host.oneshot("printf '%s|' \"a b\" 'c'\"'\"'d' $((1+2)); echo end >&2")
        assert quoted.output == "a b|c'd|3|end\n"  # stderr merged, quoting as with sh -c
        no_input = await host.oneshot("cat; echo rc=$?")
        assert no_input.output == "rc=0\n"  # stdin is /dev/null, as before

    on_host(host_factory, scenario)
