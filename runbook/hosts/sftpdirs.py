"""Making the remote folder of a `put` in one SFTP round trip instead of two per path level.

asyncssh's `makedirs` walks the path from `/`: for every level that already exists it sends a
`mkdir`, gets a failure and sends a `stat`, one after the other. For `/srv/lab/runs/h001`
that is 9 round trips before the upload starts, and on a fan-out every host pays them. Most
uploads go into a folder that exists, or whose parent does, so `ensure_dir` tries the folder
itself first: created (1 round trip), or already a folder (2). Anything else (a missing
parent, no permission, a file in the way) falls back to `makedirs`, so the errors a user sees
are exactly asyncssh's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncssh
else:
    from runbook.hosts.sshlib import asyncssh


async def ensure_dir(sftp: asyncssh.SFTPClient, path: str) -> None:
    """Make sure the remote folder `path` exists, creating missing parents as needed."""
    try:
        await sftp.mkdir(path)
        return
    except (asyncssh.SFTPFailure, asyncssh.SFTPFileAlreadyExists):
        if await sftp.isdir(path):
            return
    except asyncssh.SFTPError:
        pass
    await sftp.makedirs(path, exist_ok=True)
