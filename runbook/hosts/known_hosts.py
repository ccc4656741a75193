"""known_hosts files parsed once per process and re-read when they change.

asyncssh re-reads a known_hosts file for every connection given its path: O(hosts^2) lines at
500 hosts. `RemoteHost` passes the parsed object instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncssh

#: Where OpenSSH keeps the user's known host keys.
DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts").expanduser()

#: known_hosts files parsed once per process (path -> (mtime_ns, size, parsed)). asyncssh
#: re-reads the file for every connection given its path: O(hosts^2) lines at 500 hosts.
_KNOWN_HOSTS_CACHE: dict[Path, tuple[int, int, asyncssh.SSHKnownHosts]] = {}


def parsed_known_hosts(path: Path) -> asyncssh.SSHKnownHosts | None:
    """The parsed known_hosts file at `path` (re-read when it changes); None if unreadable."""
    import asyncssh

    try:
        stat = path.stat()
    except OSError:
        return None
    cached = _KNOWN_HOSTS_CACHE.get(path)
    if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    try:
        parsed = asyncssh.read_known_hosts(str(path))
    except (OSError, ValueError):
        return None
    _KNOWN_HOSTS_CACHE[path] = (stat.st_mtime_ns, stat.st_size, parsed)
    return parsed
