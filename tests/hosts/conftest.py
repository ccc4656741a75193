"""`host_factory`: the same host contract tests run on LocalHost and on real-sshd RemoteHosts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runbook.hosts.base import Host
from runbook.hosts.local import LocalHost
from tests.sshlab import SshdLab
from tests.sudolab import SudoAccounts, allow_lab_logins, require_sudo

HostFactory = Callable[[], Host]


@pytest.fixture(params=["local", "ssh"])
def host_factory(request: pytest.FixtureRequest) -> HostFactory:
    """A callable making a fresh host of the parametrized kind (the test closes it)."""
    if request.param == "local":
        return LocalHost
    make: Callable[..., Any] = request.getfixturevalue("ssh_host_factory")
    return lambda: make(0)


@pytest.fixture(scope="session")
def sudo_accounts(sshd_lab: SshdLab) -> Iterator[SudoAccounts]:
    """Sudo test users (NOPASSWD, with password, not in sudoers) who can log in to the lab."""
    require_sudo()
    allow_lab_logins(sshd_lab.directory, sshd_lab.authorized_keys)
    with SudoAccounts() as accounts:
        yield accounts
