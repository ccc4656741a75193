"""Turn a lab file's checked host fields into `Host` objects and the `Lab` (runbook.language.labfile
reads and checks the file first).

Hops are built before the hosts that tunnel through them; `key` / `known_hosts` paths are made
absolute (relative to the lab file's folder, `~` expanded); console and `shell: cli` hosts go
to `runbook.hosts.console_spec`; `local` (this machine) is added last unless the lab defines it.
Host classes are imported inside the functions, so reading a lab for `validate` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.language.yamlload import base_folder, expand_home

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.hosts.lab import Lab

LOCAL_ID = "local"
"""The id of this machine in every lab."""


def key_path(value: str, base: Path) -> str:
    """`value` as an absolute path: `~` expanded, relative to `base` (the lab file's folder)."""
    path = expand_home(value)
    return str(path if path.is_absolute() else base / path)


def build_lab(data: dict[str, Any], hosts: dict[str, dict[str, Any]],
               controllers: dict[str, Any], path: Path) -> Lab:
    """The `Lab` of `hosts` (fields checked and rendered) with their power `controllers`."""
    from runbook.hosts.console_spec import needs_console_class
    from runbook.hosts.lab import Lab
    from runbook.hosts.local import LocalHost
    from runbook.hosts.ssh import RemoteHost
    from runbook.language.labsites import attach_sites, site_of_hosts

    base = base_folder(path)
    built: dict[str, Host] = {}
    site_of = site_of_hosts(hosts)

    def make(host_id: str) -> Host:
        if host_id in built:
            return built[host_id]
        fields = dict(hosts[host_id])
        hop_id = fields.pop("hop", None)
        hop = make(hop_id) if isinstance(hop_id, str) else None
        key = fields.pop("key", None)
        if key is not None:
            fields["key"] = [key_path(k, base) for k in ([key] if isinstance(key, str) else key)]
        if fields.get("known_hosts"):
            fields["known_hosts"] = key_path(fields["known_hosts"], base)
        fields.pop("power_control", None)
        if needs_console_class(fields):
            host = _console_host(host_id, fields, controllers.get(host_id), hop)
            built[host_id] = host
            return host
        address = fields.pop("address", host_id)
        host = RemoteHost(host_id, address, hop=hop if isinstance(hop, RemoteHost) else None,
                          power_control=controllers.get(host_id), **fields)
        built[host_id] = host
        return host

    for host_id in hosts:
        make(host_id)
    ordered: list[Host] = [built[h] for h in hosts]
    if LOCAL_ID not in hosts:
        ordered.append(LocalHost(LOCAL_ID))
    lab_vars = data.get("vars") if isinstance(data.get("vars"), dict) else {}
    builtin = () if LOCAL_ID in hosts else (LOCAL_ID,)
    lab = Lab(ordered, vars=dict(lab_vars or {}), path=path, builtin=builtin)
    attach_sites(lab, data, site_of)
    return lab


def _console_host(host_id: str, fields: dict[str, Any], power: Any, hop: Host | None) -> Host:
    """A telnet / serial host, or a `shell: cli` host (over SSH: on a RemoteHost of its own)."""
    from runbook.hosts.console_spec import CONSOLE_TRANSPORTS, build_host
    from runbook.hosts.ssh import RemoteHost

    ssh_host = None
    if fields.get("transport", "ssh") not in CONSOLE_TRANSPORTS:
        ssh_fields = {k: v for k, v in fields.items()
                      if k not in ("transport", "shell", "prompt", "setup", "error_patterns",
                                   "become", "become_user", "become_password")}
        address = ssh_fields.pop("address", host_id)
        ssh_fields.pop("vars", None)
        ssh_host = RemoteHost(host_id, address, hop=hop if isinstance(hop, RemoteHost) else None,
                              **ssh_fields)
    return build_host(host_id, fields, power_control=power, ssh_host=ssh_host)
