"""`Lab`: the hosts of a lab, by id, in lab order."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook._lazyimport import lazy_module
from runbook.errors import ConfigError
from runbook.hosts.base import Host

if TYPE_CHECKING:
    import asyncio

    from runbook.locks.config import LockConfig
    from runbook.render.labsecrets import HostSecretNeeds
else:
    asyncio = lazy_module("asyncio")

Pattern = re.Pattern[str] | str | Sequence[re.Pattern[str] | str] | None


class Lab:
    """Hosts held by id in the order given; each host's `lab` points back here, and their
    power controllers find controller hosts by id here.

    `builtin` names hosts the lab has without the user listing them (the lab file adds `local`,
    this machine). A pattern selects such a host only when it matches its whole id
    (`hosts: local`), so `hosts: "."` never runs on the workstation by accident.

    `sites`, `site_of` and `broker` describe a multi-site lab: hosts in `site_of` are driven by
    that site's worker (`runbook.sites`), not by this process.

    `missing_secrets` maps a host id to the unset secrets it needs (see `runbook.render.labsecrets`):
    such a host is in the lab, but a run must not connect to or power it.
    """

    def __init__(self, hosts: Iterable[Host], *, vars: dict[str, Any] | None = None,
                 path: Path | None = None, builtin: Iterable[str] = ()) -> None:
        self._hosts: dict[str, Host] = {}
        for host in hosts:
            if not isinstance(host, Host):
                raise TypeError(f"Lab() takes hosts (LocalHost, RemoteHost, ...), not {host!r}")
            if host.id in self._hosts:
                raise ConfigError(f"duplicate host id {host.id!r} in the lab")
            self._hosts[host.id] = host
            host.lab = self
        for host in self._hosts.values():
            if host.power_control is not None:
                host.power_control.use_host_resolver(self.__getitem__)
        self.vars: dict[str, Any] = dict(vars or {})
        self.path = path
        self.builtin = frozenset(builtin)
        self.missing_secrets: dict[str, HostSecretNeeds] = {}
        #: The lab file's `lock:` block (None: a lab built in code, which locks nothing).
        self.lock: LockConfig | None = None
        # multi-site labs (docs/sites.md): declared sites, host id -> site, the broker template
        self.sites: dict[str, dict[str, Any]] = {}
        self.site_of: dict[str, str] = {}
        self.broker: str | None = None
        #: The lab's `defaults.persist` in seconds: keep SSH connections for warm re-runs.
        self.persist: float | None = None

    @classmethod
    def default(cls) -> Lab:
        """The lab used when none is given: just this machine, as host `local`."""
        from runbook.hosts.local import LocalHost

        return cls([LocalHost("local")])

    @property
    def hosts(self) -> list[Host]:
        return list(self._hosts.values())

    def __getitem__(self, host_id: str) -> Host:
        try:
            return self._hosts[host_id]
        except KeyError:
            raise KeyError(f"no host {host_id!r} in the lab") from None

    def __contains__(self, host_id: object) -> bool:
        return host_id in self._hosts

    def __iter__(self) -> Iterator[Host]:
        return iter(self._hosts.values())

    def __len__(self) -> int:
        return len(self._hosts)

    def replace(self, host: Host) -> None:
        """Put `host` where the lab's host of the same id was (same place in lab order); it
        gets the lab and its power controller finds hosts here (`runbook.persist` swaps SSH
        hosts for kept ones this way, before a run is planned)."""
        if host.id not in self._hosts:
            raise KeyError(f"no host {host.id!r} in the lab to replace")
        self._hosts[host.id] = host
        host.lab = self
        if host.power_control is not None:
            host.power_control.use_host_resolver(self.__getitem__)

    def select(self, pattern: Pattern = None) -> list[Host]:
        """Hosts whose id the regex (or any of the regexes) is *searched* in, in lab order.

        A builtin host is selected only by a regex matching its whole id. No pattern: all hosts.
        """
        if pattern is None:
            return self.hosts
        patterns = [pattern] if isinstance(pattern, str | re.Pattern) else list(pattern)
        try:
            compiled = [re.compile(p) if isinstance(p, str) else p for p in patterns]
        except re.error as exc:
            raise ConfigError(f"host pattern {exc.pattern!r} is not a valid regular expression: "
                              f"{exc}") from exc
        return [h for h in self._hosts.values() if self._matches(h.id, compiled)]

    def _matches(self, host_id: str, patterns: list[re.Pattern[str]]) -> bool:
        if host_id in self.builtin:
            return any(p.fullmatch(host_id) for p in patterns)
        return any(p.search(host_id) for p in patterns)

    async def close(self, *, kill: bool = True, timeout: float | None = None,
                    released: Collection[str] = ()) -> None:
        """Close every host (hop hosts and power controllers hold connections too).

        `kill`: `close()` each host, which kills its shells' and oneshots' process groups;
        otherwise just let go of the connection (`release_connection()`): idle shells exit on EOF,
        what a step deliberately left running (`nohup server &`) survives, as with plain
        ssh. `timeout`: give up after that many seconds (a host that will not close must
        not hold a run hostage). `released`: ids of hosts whose connection was already dropped
        early (the executor's release after a host's last step); not reset twice unless `kill`.
        """
        hosts = [h for h in self._hosts.values() if kill or h.id not in released]
        closing = asyncio.gather(*(h.close() if kill else h.release_connection() for h in hosts),
                                 return_exceptions=True)
        try:
            async with asyncio.timeout(timeout):
                await closing
        except TimeoutError:
            pass

    def __repr__(self) -> str:
        return f"Lab({list(self._hosts)!r})"
