"""`host_factory`: the same host contract tests run on LocalHost and on real-sshd RemoteHosts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from runbook.hosts.base import Host
from runbook.hosts.local import LocalHost

HostFactory = Callable[[], Host]


@pytest.fixture(params=["local", "ssh"])
def host_factory(request: pytest.FixtureRequest) -> HostFactory:
    """A callable making a fresh host of the parametrized kind (the test closes it)."""
    if request.param == "local":
        return LocalHost
    make: Callable[..., Any] = request.getfixturevalue("ssh_host_factory")
    return lambda: make(0)

