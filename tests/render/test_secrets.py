"""SecretStore: environment first, then the secrets file; masking of every value seen."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.errors import ConfigError, TemplateError
from runbook.render.secrets import SecretStore, env_name


def test_env_name_is_upper_cased() -> None:
    assert env_name("db-pass") == "RUNBOOK_SECRET_DB_PASS"


def test_environment_wins_over_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yml"
    path.write_text("TOKEN: from-file\nOTHER: 12345\n")
    store = SecretStore(environ={"RUNBOOK_SECRET_TOKEN": "from-env"}, secrets_file=path)
    assert store.get("token") == "from-env"
    assert store.get("OTHER") == "12345"
    assert store.get("other") == "12345"


def test_file_values_are_masked_before_they_are_read(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yml"
    path.write_text("A: alpha-secret\n")
    store = SecretStore(environ={}, secrets_file=path)
    assert store.mask("x alpha-secret y") == "x *** y"


def test_mask_only_after_read_for_environment() -> None:
    store = SecretStore(environ={"RUNBOOK_SECRET_PW": "pw-123"})
    assert store.mask("pw-123") == "pw-123"
    store.get("PW")
    assert store.mask("login pw-123 ok pw-123") == "login *** ok ***"


def test_longest_value_masked_first() -> None:
    store = SecretStore(environ={"RUNBOOK_SECRET_A": "abc", "RUNBOOK_SECRET_B": "abcdef"})
    store.get("a")
    store.get("b")
    assert store.mask("abcdef abc") == "*** ***"


def test_missing_secret_message_names_variable_and_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text("{}\n")
    with pytest.raises(TemplateError, match="RUNBOOK_SECRET_X or add 'X' to the secrets file"):
        SecretStore(environ={}, secrets_file=path).get("X")
    with pytest.raises(TemplateError, match="--secrets"):
        SecretStore(environ={}).get("X")


def test_bad_secrets_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping of NAME: value"):
        SecretStore(environ={}, secrets_file=path)
    path.write_text("A: {nested: 1}\n")
    with pytest.raises(ConfigError, match="must be a string"):
        SecretStore(environ={}, secrets_file=path)


def test_bad_secret_value_is_located_and_not_shown(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text("OK: fine\nBMC:\n  - hunter2\n")
    with pytest.raises(ConfigError) as info:
        SecretStore(environ={}, secrets_file=path)
    assert (info.value.line, info.value.column) == (3, 3)
    assert "hunter2" not in str(info.value)
    assert "secret 'BMC' must be a string or a number, not list" in str(info.value)


def test_mask_ignores_letter_case() -> None:
    store = SecretStore(environ={env_name("pw"): "s3cr3tVal"})
    store.get("pw")
    assert store.mask("S3CR3TVAL s3cr3tval s3cr3tVal") == "*** *** ***"
