"""Helpers for the power tests: hosts that carry the PowerMixin API and a recording controller."""

from __future__ import annotations

import os
from typing import Any

import pytest

from runbook.hosts.local import LocalHost
from runbook.hosts.power_mixin import PowerMixin
from runbook.hosts.ssh import RemoteHost


def powered(cls: type[Any]) -> type[Any]:
    """`cls` with the power API: `cls` itself once `Host` inherits PowerMixin, else a subclass."""
    if issubclass(cls, PowerMixin):
        return cls
    return type(f"Powered{cls.__name__}", (PowerMixin, cls), {})


PoweredLocalHost = powered(LocalHost)
PoweredRemoteHost = powered(RemoteHost)


def require_tool(available: bool, hint: str) -> None:
    """Skip with `hint` when a test peer is missing; under CI (env CI set) fail instead."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {hint}", pytrace=False)
    pytest.skip(hint)
