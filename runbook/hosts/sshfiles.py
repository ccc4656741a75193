"""Files every SSH connection needs, read once per process instead of once per connection.

Given paths, asyncssh re-reads and re-parses the known_hosts file and the private keys (plus
their `-cert.pub` neighbours) for every `connect()`. On a 500-host fan-out that is O(hosts^2)
known_hosts lines and one key parse per host: loading an ed25519 key from its path made
building a connection's options cost about 4x more than with the key already loaded. Each file
is re-read when its size or modification time changes, so an edited known_hosts is seen by the
next connection, as before.

When a file cannot be read or parsed these return None and the caller hands asyncssh the path,
so the user gets asyncssh's usual error for it, exactly as without the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncssh
else:
    from runbook.hosts.sshlib import asyncssh

#: Where OpenSSH keeps the user's known host keys.
DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts").expanduser()

#: (size, mtime_ns) of each file a cached value was read from.
_Stamp = tuple[tuple[int, int], ...]

_KNOWN_HOSTS: dict[Path, tuple[_Stamp, asyncssh.SSHKnownHosts]] = {}
_KEYPAIRS: dict[tuple[Path, ...], tuple[_Stamp, list[asyncssh.SSHKeyPair]]] = {}


def known_hosts_option(checking: bool, known_hosts: Path | None) -> dict[str, Any]:
    """`known_hosts` for asyncssh.connect: None to skip the check, parsed entries, or a path.

    Without a `known_hosts` setting, the user's ~/.ssh/known_hosts (asyncssh's default too).
    """
    if not checking:
        return {"known_hosts": None}
    known = parsed_known_hosts(known_hosts or DEFAULT_KNOWN_HOSTS)
    if known is not None:
        return {"known_hosts": known}
    if known_hosts is not None:
        return {"known_hosts": str(known_hosts)}  # asyncssh reports the problem
    return {}


def client_keys(paths: Sequence[Path]) -> list[asyncssh.SSHKeyPair] | list[str]:
    """`client_keys` for asyncssh.connect: the keys loaded once, or their paths if that fails."""
    return loaded_keypairs(paths) or [str(p) for p in paths]


def _stamp(paths: Sequence[Path]) -> _Stamp | None:
    """Size and modification time of each path; None when one cannot be read."""
    try:
        return tuple((s.st_size, s.st_mtime_ns) for s in (p.stat() for p in paths))
    except OSError:
        return None


def parsed_known_hosts(path: Path) -> asyncssh.SSHKnownHosts | None:
    """The parsed known_hosts file at `path` (re-read when it changes); None if unreadable."""
    stamp = _stamp([path])
    if stamp is None:
        return None
    cached = _KNOWN_HOSTS.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        parsed = asyncssh.read_known_hosts(str(path))
    except (OSError, ValueError):
        return None
    _KNOWN_HOSTS[path] = (stamp, parsed)
    return parsed


def loaded_keypairs(paths: Sequence[Path]) -> list[asyncssh.SSHKeyPair] | None:
    """The private keys at `paths` with their certificates, loaded once; None if one fails.

    Encrypted keys are not cached (they need a passphrase asyncssh would ask for): None.
    """
    key = tuple(paths)
    stamp = _stamp([*key, *_certificates(key)])
    if stamp is None:
        return None
    cached = _KEYPAIRS.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        pairs = list(asyncssh.load_keypairs([str(p) for p in key]))
    except (OSError, ValueError, asyncssh.KeyImportError, asyncssh.KeyEncryptionError):
        return None
    _KEYPAIRS[key] = (stamp, pairs)
    return pairs


def _certificates(paths: Sequence[Path]) -> list[Path]:
    """The `KEY-cert.pub` files asyncssh also loads, where they exist."""
    return [cert for p in paths if (cert := Path(f"{p}-cert.pub")).exists()]
