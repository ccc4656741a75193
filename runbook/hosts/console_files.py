"""`put` / `get` over a console line: base64 through the shell, checked with sha256.

A console has no second channel, so a file crosses the line as base64 text: `put` sends it as
a here-document into `base64 -d`, `get` reads `base64 FILE` back; both compare the sha256 the
board computes (`sha256sum`) with the local one. The board needs `base64` and `sha256sum`
(coreutils or busybox). Files only, up to `MAX_TRANSFER_BYTES` each: at 115200 baud a
mebibyte of base64 takes about two minutes; for more, use the network (scp from the board).

A run's transcript gets each command line as a `console:` entry with its answer, but never the
base64: `put`'s here-document is shown as `<N bytes of base64 elided>`, and `get`'s `base64`
read as a line saying how many bytes of base64 came (docs/consoles.md). The engine adds the
usual transfer lines with the local path, size and sha256.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from runbook.hosts.output import OutputSink
from runbook.hosts.shelltext import quote
from runbook.hosts.transfer import PathLike, as_paths, missing_sources
from runbook.results import CommandStatus, Status

if TYPE_CHECKING:
    from runbook.hosts.hostlog import HostLog

#: Largest file `put` / `get` move over a console (bytes).
MAX_TRANSFER_BYTES = 1024 * 1024
#: Seconds allowed per file: the line is slow, and a stuck transfer must still end.
TRANSFER_TIMEOUT = 600.0

#: Runs one command line in a subshell on the line: (command, timeout, sink for its output).
RunOne = Callable[[str, float | None, OutputSink | None], Awaitable[CommandStatus]]


async def put_files(run_one: RunOne, src_files: PathLike | Sequence[PathLike],
                    dest_dir: PathLike, mode: int | None,
                    log: HostLog | None = None) -> tuple[Status, str]:
    """Copy local files into `dest_dir` on the board (made if missing); `log` gets each
    command line with its here-document elided (module docstring)."""
    sources = as_paths(src_files)
    problem = missing_sources(sources) or _not_files(sources)
    if problem:
        return Status.Error, problem
    for source in sources:
        data = source.read_bytes()
        if len(data) > MAX_TRANSFER_BYTES:
            return Status.Error, _too_big(str(source), len(data))
        target = str(PurePosixPath(str(dest_dir)) / source.name)
        encoded = base64.encodebytes(data).decode()
        result = await _logged(run_one, log, _put_command(str(dest_dir), target, mode, encoded),
                               TRANSFER_TIMEOUT, shown=_put_command(
                                   str(dest_dir), target, mode, elided(len(encoded)) + "\n"))
        if not result.status.is_ok:
            return Status.Error, f"put {source} -> {target} failed: {result.output.strip()}"
        if hashlib.sha256(data).hexdigest() not in result.output:
            return Status.Error, (f"put {source} -> {target}: the sha256 on the board differs "
                                  "(the line garbled the data); try again or lower the speed")
    return Status.Success, ""


async def get_files(run_one: RunOne, src_files: PathLike | Sequence[PathLike],
                    dest_dir: PathLike, log: HostLog | None = None) -> tuple[Status, str]:
    """Copy files of the board into the local folder `dest_dir` (made if missing); `log` gets
    each command line, the base64 read elided (module docstring)."""
    sources = [str(s) for s in ([src_files] if isinstance(src_files, str | Path) else src_files)]
    local_dir = _made_local_dir(dest_dir)
    for source in sources:
        q = quote(source)
        probe = await _logged(run_one, log, f"test -f {q} && wc -c < {q} && sha256sum < {q}", 60.0)
        fields = probe.output.split()
        if not probe.status.is_ok or len(fields) < 2 or not fields[0].isdigit():
            return Status.Error, f"get {source}: not a readable file on the board"
        size, digest = int(fields[0]), fields[1]
        if size > MAX_TRANSFER_BYTES:
            return Status.Error, _too_big(source, size)
        dump = await _logged(run_one, log, f"base64 < {q}", TRANSFER_TIMEOUT, elide=True)
        if not dump.status.is_ok:
            return Status.Error, f"get {source} failed: {dump.output.strip()}"
        try:
            data = base64.b64decode("".join(dump.output.split()), validate=True)
        except ValueError:
            data = b""
        if hashlib.sha256(data).hexdigest() != digest:
            return Status.Error, (f"get {source}: the data read differs from the board's sha256 "
                                  "(console noise or a garbled line); try again")
        (local_dir / PurePosixPath(source).name).write_bytes(data)
    return Status.Success, ""


def _put_command(dest_dir: str, target: str, mode: int | None, base64_lines: str) -> str:
    """The command line that writes `target` from a here-document and prints its sha256."""
    chmod = f" && chmod {mode:o} {quote(target)}" if mode is not None else ""
    return (f"mkdir -p {quote(dest_dir)} && base64 -d > {quote(target)} <<'__RUNBOOK_EOF'\n"
            f"{base64_lines}__RUNBOOK_EOF\nsha256sum < {quote(target)}{chmod}")


def elided(size: int) -> str:
    """What a transcript shows instead of the base64 a transfer moved."""
    return f"<{size} bytes of base64 elided>"


async def _logged(run_one: RunOne, log: HostLog | None, command: str, timeout: float, *,
                  shown: str | None = None, elide: bool = False) -> CommandStatus:
    """`run_one(command)`, told to `log` as a `console:` entry: `shown` instead of the command
    (a `put`, its here-document elided); its output, or with `elide` (`get`'s base64) only
    how many bytes came. A `put`'s answer is written once the command ended, from the result
    (what came between the markers): an echo of the here-document never reaches the log."""
    if log is None:
        return await run_one(command, timeout, None)
    log.command(shown or command, kind="console")
    size = 0

    def count(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)

    try:
        result = await run_one(command, timeout, count if elide or shown else log.output)
    except BaseException as exc:
        log.command_end(None, type(exc).__name__)
        raise
    if elide:
        log.note(elided(size))
    elif shown:
        log.output(result.output.encode())
    log.command_end(result.retcode, result.status.word)
    return result


def _made_local_dir(dest_dir: PathLike) -> Path:
    path = Path(dest_dir).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _not_files(sources: list[Path]) -> str | None:
    folders = [str(s) for s in sources if not s.is_file()]
    if not folders:
        return None
    return f"put over a console moves files only, not folders: {', '.join(folders)}"


def _too_big(name: str, size: int) -> str:
    return (f"{name} is {size} bytes; a console moves files up to {MAX_TRANSFER_BYTES} bytes "
            "(base64 over the line is slow): copy it over the network instead")
