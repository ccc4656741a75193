"""`put` / `get` over SFTP with the rules of `runbook.hosts.transfer`.

Uploads: each file goes to a temporary name in its remote folder and is renamed into place
(`posix-rename@openssh.com`, which replaces an existing file) when complete. Downloads: each
remote file is fetched to a temporary name in its local folder and renamed into place. On
failure or cancellation the temporary is removed (bounded in time; a dropped connection can
leave a remote `.NAME.runbook-XXXX.part` behind, never a truncated file under NAME). Remote
links are followed (`stat`, not `lstat`), so absolute link targets work; inside a folder a
broken link or a loop is skipped and named.
"""

from __future__ import annotations

import contextlib
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from runbook._lazyimport import lazy_module
from runbook.hosts.sftpdirs import ensure_dir
from runbook.hosts.shell import INTERRUPT_GRACE
from runbook.hosts.transfer import Skipped, temp_name

if TYPE_CHECKING:
    import asyncio

    import asyncssh
else:
    asyncio = lazy_module("asyncio")
    from runbook.hosts.sshlib import asyncssh


def remote_join(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}" if folder else name


async def _cleanup(action: Callable[[], Awaitable[object]]) -> None:
    """Run a best-effort cleanup that survives the caller's cancellation, bounded in time."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(action()), INTERRUPT_GRACE)


async def put_tree(sftp: asyncssh.SFTPClient, sources: list[Path], dest: str,
                   mode: int | None) -> Skipped:
    """Upload files or folders (links followed) into the remote folder `dest`."""
    skipped = Skipped()
    for src in sources:
        target = remote_join(dest, src.name)
        await _put_item(sftp, src, target, skipped, frozenset(), mode=mode, top=True)
        if mode is not None and src.is_dir():
            await sftp.chmod(target, mode)
    return skipped


async def _put_item(sftp: asyncssh.SFTPClient, src: Path, target: str, skipped: Skipped,
                    ancestors: frozenset[Path], *, mode: int | None = None,
                    top: bool = False) -> None:
    try:
        is_dir = stat.S_ISDIR(src.stat().st_mode)  # noqa: ASYNC240 - local metadata, quick
    except OSError as exc:
        if top:
            raise
        skipped.add(str(src), exc.strerror or str(exc))
        return
    if not is_dir:
        await put_file(sftp, src, target, mode if top else None)
        return
    real = src.resolve()  # noqa: ASYNC240 - local metadata, quick
    if real in ancestors:
        skipped.add(str(src), f"link loop back to {real}")
        return
    await ensure_dir(sftp, target)
    for child in sorted(src.iterdir()):  # noqa: ASYNC240 - local metadata, quick
        await _put_item(sftp, child, remote_join(target, child.name), skipped,
                        ancestors | {real})


async def put_file(sftp: asyncssh.SFTPClient, src: Path, target: str, mode: int | None) -> None:
    """Upload one file to a temporary name beside `target`, set its mode, rename into place."""
    temp = temp_name(target)
    try:
        # sparse=False: asyncssh's hole skipping leaves a file ending in a hole short (a
        # 512 MB all-hole file arrives as 0 bytes), so every byte is sent.
        await sftp.put(str(src), temp, sparse=False)
        if mode is not None:
            await sftp.chmod(temp, mode)
        await sftp.posix_rename(temp, target)
    except BaseException:
        await _cleanup(lambda: sftp.remove(temp))
        raise


async def get_tree(sftp: asyncssh.SFTPClient, remote: list[str], dest: Path) -> Skipped:
    """Download remote files or folders (links followed) into the local folder `dest`."""
    skipped = Skipped()
    for path in remote:
        name = path.rstrip("/").rpartition("/")[2] or path
        await _get_item(sftp, path, dest / name, skipped, frozenset(), top=True)
    return skipped


async def _get_item(sftp: asyncssh.SFTPClient, path: str, target: Path, skipped: Skipped,
                    ancestors: frozenset[str], *, top: bool = False) -> None:
    try:
        attrs = await sftp.stat(path)  # follows links, absolute targets too
    except asyncssh.SFTPError as exc:
        if top:
            raise
        skipped.add(path, exc.reason or type(exc).__name__)
        return
    if not stat.S_ISDIR(attrs.permissions or 0):
        await get_file(sftp, path, target)
        return
    real = await sftp.realpath(path)
    if real in ancestors:
        skipped.add(path, f"link loop back to {real}")
        return
    await asyncio.to_thread(target.mkdir, parents=True, exist_ok=True)
    for name in sorted(await sftp.listdir(path)):
        if name not in (".", ".."):
            await _get_item(sftp, remote_join(path, name), target / name, skipped,
                            ancestors | {real})


async def get_file(sftp: asyncssh.SFTPClient, path: str, target: Path) -> None:
    """Download one file to a temporary name beside `target`, then rename it into place."""
    temp = Path(temp_name(str(target)))
    try:
        await sftp.get(path, str(temp), follow_symlinks=True)
        await asyncio.to_thread(temp.replace, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()  # noqa: ASYNC240 - must happen now, even when cancelled
        raise
