"""`LocalHost`: this machine, no network. Same contract as an SSH host (become needs sudo here)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook._lazyimport import lazy_module
from runbook.hosts.base import Host
from runbook.hosts.become_files import become_get, become_put
from runbook.hosts.contract import check_command
from runbook.hosts.output import DEFAULT_OUTPUT_LIMIT, BoundedOutput, OutputSink, drain
from runbook.hosts.shell import INTERRUPT_GRACE, killed_after_timeout
from runbook.hosts.shelltext import SHELL_COMMAND, read_script_then_eval
from runbook.hosts.transfer import PathLike, as_paths, copy_local, missing_sources
from runbook.results import CommandStatus, Status

if TYPE_CHECKING:
    import asyncio

    from runbook.hosts.streams import LocalPtyStream
else:
    asyncio = lazy_module("asyncio")

class _ProcessChannel:
    """A local subprocess as a `ShellChannel`."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    def write(self, data: bytes) -> None:
        assert self._process.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
            self._process.stdin.write(data)

    async def read(self) -> bytes:
        assert self._process.stdout is not None
        return await self._process.stdout.read(65536)

    async def exit_status(self) -> int | None:
        return await self._process.wait()

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        if self._process.returncode is None:
            _killpg(self._process.pid, signal.SIGKILL)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class LocalHost(Host):
    """The machine runbook runs on. Commands run in new process groups so they can be stopped."""

    transport = "local"

    def __init__(self, id: str = "local", **kwargs: Any) -> None:
        super().__init__(id, **kwargs)
        self.address = "localhost"
        self.port = None
        self.user = os.environ.get("USER") or os.environ.get("LOGNAME")
        self._oneshot_pgids: set[int] = set()

    async def _open_command_channel(self, command: str) -> _ProcessChannel:
        process = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )
        return _ProcessChannel(process)

    async def _open_shell_channel(self) -> _ProcessChannel:
        return await self._open_command_channel(SHELL_COMMAND)

    async def _open_interact_stream(self) -> LocalPtyStream:
        """A login shell on a new pty (for `interact`)."""
        from runbook.hosts.streams import LocalPtyStream

        return await LocalPtyStream.open()

    async def _signal_group(self, pgid: int, signal_name: str) -> None:
        _killpg(pgid, getattr(signal, f"SIG{signal_name}"))

    async def oneshot(self, cmd: str, timeout: float | None = None, *,
                      become: bool | None = None, become_user: str | None = None,
                      output_limit: int = DEFAULT_OUTPUT_LIMIT,
                      sink: OutputSink | None = None) -> CommandStatus:
        """Run `cmd` with /bin/sh in a fresh process group; the command arrives on stdin.

        With become it runs under sudo as the become user (`runbook.hosts.become`).
        """
        check_command(cmd, timeout)
        out = BoundedOutput(output_limit, sink)
        if (who := self.become_for(become, become_user)) is not None:
            return await self._marker_oneshot(cmd, timeout, who, out=out)
        script = cmd.encode()
        process = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", read_script_then_eval(len(script)),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )
        self._oneshot_pgids.add(process.pid)
        assert process.stdin is not None
        process.stdin.write(script)  # not in argv: `ps` shows argv to every user
        process.stdin.close()

        async def collect() -> int:
            stdout = process.stdout
            assert stdout is not None
            await drain(lambda: stdout.read(65536), out)
            return await process.wait()

        try:
            rc = await asyncio.wait_for(collect(), timeout)
        except TimeoutError:
            _killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), INTERRUPT_GRACE)
            except TimeoutError:
                _killpg(process.pid, signal.SIGKILL)
                await process.wait()
            return killed_after_timeout(cmd, out.text(), timeout)
        except asyncio.CancelledError:
            _killpg(process.pid, signal.SIGKILL)
            raise
        finally:
            self._oneshot_pgids.discard(process.pid)
        return CommandStatus(cmd, out.text(), Status.Success if rc == 0 else Status.Failed, rc)

    async def put(self, src_files: PathLike | Sequence[PathLike], dest_dir: PathLike,
                  mode: int | None = None, *, become: bool | None = None,
                  become_user: str | None = None) -> tuple[Status, str]:
        """Copy files or folders into `dest_dir` (created if missing)."""
        sources = as_paths(src_files)
        if problem := missing_sources(sources):
            return Status.Error, problem
        if (who := self.become_for(become, become_user)) is not None:
            return await become_put(self, sources, dest_dir, mode, who)
        return await _copy_in_thread(sources, Path(dest_dir), mode)

    async def get(self, src_files: PathLike | Sequence[PathLike], dest_dir: PathLike, *,
                  become: bool | None = None, become_user: str | None = None
                  ) -> tuple[Status, str]:
        """Same as `put` on the local machine (with become: read as the become user)."""
        if (who := self.become_for(become, become_user)) is not None:
            items = [src_files] if isinstance(src_files, str | Path) else list(src_files)
            return await become_get(self, items, Path(dest_dir), who)
        return await self.put(src_files, dest_dir, become=False)

    async def close(self) -> None:
        """Kill the shell and any oneshot still running."""
        await self._drop_shell()
        await self._drop_become_shells(kill_idle=True)
        for pgid in await self._kill_running_oneshots():
            _killpg(pgid, signal.SIGKILL)
        for pgid in list(self._oneshot_pgids):
            _killpg(pgid, signal.SIGKILL)


async def _copy_in_thread(sources: list[Path], dest: Path, mode: int | None) -> tuple[Status, str]:
    """`copy_local` in a worker thread; on cancellation the thread is told to stop and is
    waited for (bounded), so its temporary file is gone before the cancellation goes on."""
    stop = threading.Event()
    task = asyncio.ensure_future(asyncio.to_thread(copy_local, sources, dest, mode, stop))
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.wait({task}, timeout=INTERRUPT_GRACE)
        raise
