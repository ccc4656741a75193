"""Lab fields of console and CLI hosts: checking them and building the host they describe.

`transport` (ssh | telnet | serial) says how a host is reached, `shell` (posix | cli) what runs
its commands. The lab file reader (`runbook.language.labfile`) asks `field_problems` for findings, at
the line of the offending field, and `build_host` for the host of any transport that is not
plain SSH with a POSIX shell. No I/O library is imported here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runbook.hosts.base import Host
    from runbook.hosts.base import PowerControl as PowerController

CONSOLE_TRANSPORTS = ("telnet", "serial")
#: Fields that only mean something for one transport or shell, and which that is.
ONLY_FOR: dict[str, tuple[str, str]] = {
    "device": ("transport", "serial"),
    "baud": ("transport", "serial"),
    "prompt": ("shell", "cli"),
    "setup": ("shell", "cli"),
    "error_patterns": ("shell", "cli"),
}
CONSOLE_ONLY = ("login_prompt", "password_prompt")
SSH_ONLY = ("hop", "key", "known_hosts", "host_key_checking", "agent", "keepalive", "max_sessions")
#: Fields a serial line has no use for (it is a device, not a network address).
NOT_SERIAL = ("address", "port")
BECOME_FIELDS = ("become", "become_user", "become_password")
REGEX_FIELDS = ("prompt", "login_prompt", "password_prompt", "error_patterns")


def field_problems(fields: dict[str, Any]) -> list[tuple[str, int | None, str]]:
    """(field, index in a list field or None, message) for fields that do not fit together."""
    transport = fields.get("transport", "ssh")
    shell = fields.get("shell", "posix")
    chosen = {"transport": transport, "shell": shell}
    problems: list[tuple[str, int | None, str]] = []
    for name, (kind, needed) in ONLY_FOR.items():
        if fields.get(name) is not None and chosen[kind] != needed:
            problems.append((name, None, f"{name} is only for `{kind}: {needed}` "
                                         f"(this host has {kind}: {chosen[kind]})"))
    if transport == "ssh":
        problems += [(n, None, f"{n} is only for console logins (transport: telnet or serial)")
                     for n in CONSOLE_ONLY if fields.get(n) is not None]
    else:
        problems += [(n, None, f"{n} is only for `transport: ssh` (this host has transport: "
                               f"{transport})") for n in SSH_ONLY if fields.get(n) is not None]
    if transport == "serial":
        problems += [(n, None, f"{n} is not used by `transport: serial` (the line is `device`): "
                               "for a serial port behind a TCP terminal server, remove it and "
                               "set `device: socket://HOST:PORT` (raw TCP) or "
                               "`device: rfc2217://HOST:PORT`")
                     for n in NOT_SERIAL if fields.get(n) is not None]
    if transport == "serial" and not fields.get("device"):
        problems.append(("transport", None, "transport: serial needs `device` (a path such as "
                                            "/dev/ttyUSB0, or rfc2217://HOST:PORT)"))
    if fields.get("password") is not None and fields.get("user") is None \
            and transport in CONSOLE_TRANSPORTS:
        problems.append(("password", None, "a console password needs `user`: the login prompt "
                                           "is answered with the user, then the password"))
    problems += _become_problems(fields, transport != "ssh" or shell == "cli")
    problems += _regex_problems(fields)
    return problems


def _become_problems(fields: dict[str, Any], console: bool) -> list[tuple[str, int | None, str]]:
    """become needs sudo behind a POSIX shell over SSH: not on console or CLI hosts."""
    if not console:
        return []
    asked = [n for n in BECOME_FIELDS if fields.get(n) not in (None, False)]
    return [(n, None, f"{n}: become is only for SSH hosts with a POSIX shell; a console or "
                      f"`shell: cli` host logs in as its `user`") for n in asked]


def _regex_problems(fields: dict[str, Any]) -> list[tuple[str, int | None, str]]:
    problems: list[tuple[str, int | None, str]] = []
    for name in REGEX_FIELDS:
        value = fields.get(name)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, pattern in items:
            if not isinstance(pattern, str):
                continue
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append((name, index, f"{name}: {pattern!r} is not a valid regex: {exc}"))
    return problems


def needs_console_class(fields: dict[str, Any]) -> bool:
    """True when the host is not plain SSH with a POSIX shell."""
    return bool(fields.get("transport", "ssh") != "ssh" or fields.get("shell", "posix") == "cli")


def build_host(host_id: str, fields: dict[str, Any], *,
               power_control: PowerController | None, ssh_host: Any = None) -> Host:
    """The console or CLI host for checked lab `fields` (`ssh_host`: for `transport: ssh`)."""
    from runbook.hosts.cli import DEFAULT_ERROR_PATTERNS, DEFAULT_PROMPT, CliHost
    from runbook.hosts.console import ConsoleHost
    from runbook.hosts.links import (
        DEFAULT_LOGIN_PROMPT,
        DEFAULT_PASSWORD_PROMPT,
        Link,
        Login,
        SerialLink,
        SshLink,
        TelnetLink,
    )

    transport = fields.get("transport", "ssh")
    timeout = float(fields.get("connect_timeout", 10.0))
    link: Link
    if transport == "telnet":
        link = TelnetLink(fields.get("address", host_id), fields.get("port", 23), timeout)
    elif transport == "serial":
        link = SerialLink(fields["device"], fields.get("baud", 115200), timeout)
    else:
        link = SshLink(ssh_host)
    login = None
    if transport != "ssh" and fields.get("user"):
        login = Login(fields["user"], fields.get("password"),
                      fields.get("login_prompt") or DEFAULT_LOGIN_PROMPT,
                      fields.get("password_prompt") or DEFAULT_PASSWORD_PROMPT)
    common: dict[str, Any] = {"login": login, "vars": fields.get("vars"),
                              "power_control": power_control}
    if fields.get("shell", "posix") == "cli":
        errors = fields.get("error_patterns")
        return CliHost(host_id, link, prompt=fields.get("prompt") or DEFAULT_PROMPT,
                       setup=fields.get("setup") or (),
                       error_patterns=DEFAULT_ERROR_PATTERNS if errors is None else errors,
                       **common)
    if isinstance(link, SshLink):
        raise ValueError("plain SSH hosts are RemoteHosts")
    return ConsoleHost(host_id, link, **common)
