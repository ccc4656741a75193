"""The lab file's `lock:` block as `load_lab` reads it (bad blocks: tests/corpus/invalid)."""

from __future__ import annotations

from pathlib import Path

from runbook.language.labfile import load_lab
from runbook.locks.file_backend import FileLockBackend
from runbook.locks.redis_backend import RedisLockBackend
from runbook.render.secrets import SecretStore

HOSTS = "hosts:\n  r1: {address: 10.0.0.1}\n"


def test_without_a_lock_block_the_file_backend_uses_the_lab_name(tmp_path: Path) -> None:
    path = tmp_path / "rack 3.yml"
    path.write_text(HOSTS)
    lock = load_lab(path).lock
    assert lock is not None and (lock.type, lock.namespace, lock.ttl) == ("file", "rack_3", 60)
    assert isinstance(lock.backend(), FileLockBackend)


def test_redis_url_password_from_a_secret_is_rendered_and_masked(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(HOSTS + "lock:\n  type: redis\n  namespace: lab-a\n  ttl: 20\n"
                    "  url: \"redis://:{{ secret('LOCK_PW') }}@locks.example:6379/0\"\n")
    secrets = SecretStore(environ={"RUNBOOK_SECRET_LOCK_PW": "pw-9876"})
    lock = load_lab(path, secrets=secrets).lock
    assert lock is not None and (lock.namespace, lock.ttl) == ("lab-a", 20)
    assert lock.settings["url"] == "redis://:pw-9876@locks.example:6379/0"
    backend = lock.backend()
    assert isinstance(backend, RedisLockBackend) and "pw-9876" not in backend.describe()
    assert secrets.mask(lock.settings["url"]) == "redis://:***@locks.example:6379/0"


def test_an_unset_secret_is_recorded_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(HOSTS + "lock: {type: redis, url: \"redis://:{{ secret('LOCK_PW') }}@l/0\"}\n")
    lock = load_lab(path, secrets=SecretStore(environ={})).lock
    assert lock is not None and lock.missing_secrets == ("LOCK_PW",)
