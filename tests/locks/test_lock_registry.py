"""The lock backend register: built-ins, settings checked against constructors, and a plugin
backend really pip-installed from tests/locks/plugin_dist (entry-point group
`runbook.lock_backends`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runbook.errors import LockSpecError
from runbook.locks import Holder, LockBackendRegistry, lock_backend_from_spec
from runbook.locks.file_backend import FileLockBackend
from tests.locks.lockrun import install_plugin


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_plugin(tmp_path_factory.mktemp("lockplugin"))


def test_builtins_and_did_you_mean() -> None:
    registry = LockBackendRegistry()
    assert {"file", "redis"} <= set(registry.names())
    with pytest.raises(LockSpecError) as info:
        registry.get("rediss")
    assert info.value.key == "type" and "did you mean 'redis'?" in str(info.value)


@pytest.mark.parametrize(("settings", "key", "text"), [
    ({"ur": "redis://x"}, "ur", "did you mean 'url'?"),
    ({}, None, "needs: url"),
    ({"url": 6379}, "url", "must be a string, got 6379"),
    ({"url": "http://locks:6379"}, "url", "must start with redis://"),
    ({"url": "redis://locks:99999/0"}, "url", "is not a valid URL"),
    ({"url": "redis://locks:6379/zero"}, "url", "database must be a number"),
    ({"url": "redis://locks/0", "timeout": 0}, "timeout", "must be > 0"),
])
def test_redis_settings_are_checked(settings: dict[str, object], key: str | None,
                                    text: str) -> None:
    with pytest.raises(LockSpecError) as info:
        lock_backend_from_spec("redis", "lab", settings)
    assert info.value.key == key and text in str(info.value)


def test_redis_backend_is_built_without_connecting_or_showing_the_password() -> None:
    backend = lock_backend_from_spec("redis", "lab", {"url": "redis://:pw123@nowhere.invalid/0"})
    assert "pw123" not in backend.describe() and ":***@nowhere.invalid" in backend.describe()


def test_register_refuses_a_taken_name() -> None:
    registry = LockBackendRegistry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register("file", FileLockBackend)


def test_plugin_backend_is_listed_checked_and_works(site_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(site_dir))
    registry = LockBackendRegistry()
    assert "dirlock" in registry.names()
    with pytest.raises(LockSpecError) as info:
        lock_backend_from_spec("dirlock", "lab", {"folder": "x", "mode": "loose"},
                               registry=registry)
    assert info.value.key == "mode" and "one of 'strict', 'lenient'" in str(info.value)
    backend = lock_backend_from_spec("dirlock", "lab", {"folder": str(tmp_path)},
                                     registry=registry)
    assert type(backend).__module__ == "runbook_dirlock"
    holder = Holder("alice", "ws1", "run-a")
    assert asyncio.run(backend.acquire(["r1"], holder, 30)) == []
    assert (tmp_path / "lab" / "r1.json").is_file()


def test_every_public_name_resolves() -> None:
    import runbook.locks

    for name in runbook.locks.__all__:
        assert getattr(runbook.locks, name) is not None
    with pytest.raises(AttributeError):
        runbook.locks.no_such_name  # noqa: B018
