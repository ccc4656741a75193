"""The persistent shell protocol (runbook.hosts.shell) on LocalHost and on real OpenSSH."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from runbook import Host, Status
from runbook.errors import ShellDiedError
from runbook.hosts.local import LocalHost
from runbook.hosts.output import BoundedOutput
from runbook.hosts.shell import MarkerReader
from runbook.hosts.shelltext import bash_first, plain_command
from tests.hosts.conftest import HostFactory
from tests.hosts.test_host_contract import on_host


def test_a_step_redirecting_the_shell_output_keeps_the_shell(host_factory: HostFactory,
                                                             tmp_path: Path) -> None:
    """`exec > log 2>&1` (install scripts) must not lose the shell nor put runbook's marker in log."""
    log = tmp_path / "install.log"

    async def scenario(host: Host) -> None:
        first = (await host.run(f"cd {tmp_path}; exec > {log} 2>&1; echo to-log; echo err >&2",
                                timeout=10)).only
        assert first.status is Status.Success, first
        assert first.output == ""
        second = await host.run(["pwd", "echo again >&2", "(exit 4)"], timeout=10)
        assert [s.status for s in second.statuses] == [Status.Success, Status.Success,
                                                         Status.Failed]
        assert second.statuses[2].retcode == 4
        assert all(s.output == "" for s in second.statuses)

    on_host(host_factory, scenario)
    assert log.read_text().splitlines()[:4] == ["to-log", "err", str(tmp_path), "again"]
    assert "__runbook" not in log.read_text()


def test_a_step_cannot_break_the_protocol_descriptor(host_factory: HostFactory) -> None:
    """fd 8 carries the protocol; inside a step it is closed, and closing it persists nowhere."""

    async def scenario(host: Host) -> None:
        probe = (await host.run("echo x >&8", timeout=10)).only
        assert probe.status is Status.Failed
        closed = (await host.run("exec 8>&-; exec 8>/dev/null; echo still", timeout=10)).only
        assert closed.output == "still\n"
        assert (await host.run("echo fine")).only.output == "fine\n"

    on_host(host_factory, scenario)


def _tools_without_bash(folder: Path) -> str:
    """A PATH holding what the POSIX shell loop and its watchdog use, and no bash."""
    folder.mkdir()
    for tool in ("sh", "head", "tail", "sleep", "ps", "cat", "printf", "pwd", "wc"):
        found = shutil.which(tool)
        assert found is not None, tool
        (folder / tool).symlink_to(Path(found).resolve() if tool == "sh" else found)
    return str(folder)


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_the_command_loop_keeps_commands_whole_and_state_across_them(
        shell: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both command loops (bash's `read -N`, and the `head -c` one where bash is missing) take
    every byte of a command, newlines and non-ASCII text included, keep cwd and variables
    between commands and after a timed-out one, and start a new shell after `exit`."""
    if shell == "sh":
        monkeypatch.setenv("PATH", _tools_without_bash(tmp_path / "bin"))
    host = LocalHost()
    awkward = "printf '%s\\n' 'héllo — ✓'\n\necho \"[$(printf 'a\\n\\n')]\"\n\n"

    async def scenario() -> list[str]:
        async with host:
            probe = f'cd {tmp_path}; x=kept; echo "$BASH_VERSION" | wc -c'
            outputs = [(await host.run(probe)).only.output, (await host.run(awkward)).only.output]
            timed_out = (await host.run("sleep 30", timeout=0.5)).only
            assert timed_out.status is Status.Error, timed_out
            outputs.append((await host.run('echo "$x $(pwd)"')).only.output)
            ended = (await host.run("exit 3")).only
            assert ended.retcode == 3, ended
            outputs.append((await host.run('echo "[$x]"')).only.output)
            return outputs

    bash_version, whole, state, fresh = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert (int(bash_version) > 1) is (shell == "bash")  # the loop this test meant to run
    assert whole == "héllo — ✓\n[a]\n"
    assert state == f"kept {tmp_path}\n"
    assert fresh == "[]\n"


@pytest.mark.parametrize(("command", "plain"), [
    ("md5sum /tmp/h01/payload.bin", True), ("systemctl restart nginx", True), ("uname", True),
    ("ls -l /var/log/*.log", True), ("echo a; rm -rf /tmp/x", False), ("a && b", False),
    ("make | tee log", False), ("FOO=1 make", False), ("cat $HOME/x", False),
    ("grep 'a b' f", False), ("cat <in >out", False), ("sleep 5 &", False), ("x\ny", False),
    ("./configure", False), ("(cd /tmp)", False), ("echo `id`", False), ("cmd\targ", False),
])
def test_which_oneshots_may_run_by_exec(command: str, plain: bool) -> None:
    """Only one simple command with plain words is run by `exec` in a oneshot (whose shell
    then checks that its first word is a program on PATH): putting `exec` in front of
    anything else would change what it does."""
    assert plain_command(command) is plain



def test_bash_first_runs_its_branch_and_bash_never_parses_the_other() -> None:
    def run(shell: str, text: str) -> tuple[int, str, str]:
        done = subprocess.run([shell, "-c", text], check=False, capture_output=True, text=True,
                              timeout=10)
        return done.returncode, done.stdout, done.stderr

    assert run("bash", bash_first("echo in bash", "echo in other")) == (0, "in bash\n", "")
    assert run("dash", bash_first("echo in bash", "echo in other")) == (0, "in other\n", "")
    # `(` alone is a syntax error: bash does not even parse the other branch.
    assert run("bash", bash_first("echo in bash", "echo ( never")) == (0, "in bash\n", "")


class _Chunks:
    """A `ShellChannel` that gives out fixed chunks of output, then end of file."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = list(chunks)

    def write(self, data: bytes) -> None:
        pass

    async def read(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""

    async def exit_status(self) -> int | None:
        return None

    def close(self) -> None:
        pass


@pytest.mark.parametrize("split", [1, 5, 12, 13, 17, 100])
def test_the_marker_reader_finds_a_marker_line_however_the_output_is_cut(split: int) -> None:
    """The marker alone, or followed by anything but `:<number>:\\n`, is output; a marker
    line cut anywhere between two reads is still found, and what follows it kept."""
    marker = b"__runbook_0123456789ab__"
    text = (b"a " + marker + b" b\n" + marker + b":x:\n" + marker + b":-7:\nrest" +
            marker + b":12:\n")
    chunks = [text[i:i + split] for i in range(0, len(text), split)]

    async def scenario() -> tuple[tuple[bytes, int], tuple[bytes, int]]:
        reader = MarkerReader(_Chunks(chunks), marker)
        return await reader.until_marker(), await reader.until_marker()

    first, second = asyncio.run(scenario())
    assert first == (b"a " + marker + b" b\n" + marker + b":x:\n", -7)
    assert second == (b"rest", 12)


def test_the_marker_reader_streams_output_and_says_when_the_shell_died() -> None:
    marker = b"__runbook_0123456789ab__"
    body = b"x" * 200_000
    out = BoundedOutput(1 << 20)

    async def scenario() -> int:
        reader = MarkerReader(_Chunks([body[:70_000], body[70_000:] + marker[:9],
                                       marker[9:] + b":3:\n"]), marker)
        _, number = await reader.until_marker(out)
        with pytest.raises(ShellDiedError):
            await reader.until_marker()
        return number

    assert asyncio.run(scenario()) == 3
    assert out.text() == body.decode()
