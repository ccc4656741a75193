"""Helpers shared by the power tests."""

from __future__ import annotations

import os

import pytest


def require_tool(available: bool, hint: str) -> None:
    """Skip with `hint` when a test peer is missing; under CI (env CI set) fail instead."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {hint}", pytrace=False)
    pytest.skip(hint)
