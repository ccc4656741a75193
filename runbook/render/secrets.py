"""Secrets for templates: `{{ secret('DB_PASSWORD') }}`, and masking them in all output.

A secret named NAME is read from the environment variable `RUNBOOK_SECRET_NAME` (the name is
upper-cased, `-` becomes `_`), or else from a secrets file (a YAML mapping `NAME: value`,
given with `--secrets`). The environment wins over the file. Every value read so far, and
every value in the secrets file, is replaced by `***` by `SecretStore.mask` (in any letter
case, so `| upper` does not reveal it); the engine and the reporters pass all output, logs and
reports through it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from runbook._text import unspell_keys
from runbook.errors import ConfigError, MissingSecretError

ENV_PREFIX = "RUNBOOK_SECRET_"
MASK = "***"


def env_name(name: str) -> str:
    """The environment variable holding secret `name`."""
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


class SecretStore:
    """Looks secrets up and remembers their values so output can be masked."""

    def __init__(self, environ: Mapping[str, str] | None = None,
                 secrets_file: Path | None = None) -> None:
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self.secrets_file = secrets_file
        self._file_values: dict[str, str] = {}
        self._seen: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        if secrets_file is not None:
            self._file_values = _read_secrets_file(secrets_file)
            self._seen.update(v for v in self._file_values.values() if v)

    def get(self, name: str) -> str:
        """The value of secret `name`; `TemplateError` naming where it was looked for if unset."""
        value = self._environ.get(env_name(name))
        if value is None:
            value = self._file_values.get(name)
        if value is None:
            folded = {k.upper(): v for k, v in self._file_values.items()}
            value = folded.get(name.upper())
        if value is None:
            where = f"set the environment variable {env_name(name)}"
            if self.secrets_file is not None:
                where += f" or add {name!r} to the secrets file {self.secrets_file}"
            else:
                where += " or pass a secrets file with --secrets"
            raise MissingSecretError(name, f"secret {name!r} is not set: {where}")
        if value and value not in self._seen:
            self._seen.add(value)
            self._pattern = None
        return value

    @property
    def values(self) -> frozenset[str]:
        """Every secret value known so far (read through `get` or present in the file)."""
        return frozenset(self._seen)

    def mask(self, text: str) -> str:
        """`text` with every known secret value replaced by `***` (longest values first)."""
        if not self._seen or not text:
            return text
        if self._pattern is None:
            # Case-insensitive: `{{ secret('PW') | upper }}` must not print the secret either.
            # Also each value's key spelling: `plan` shows a value rendered into an `interact`
            # send that way (`p\\^C` for `p^C`).
            forms = self._seen | {unspell_keys(v) for v in self._seen}
            ordered = sorted(forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered), re.IGNORECASE)
        return self._pattern.sub(MASK, text)


class PlaceholderSecrets(SecretStore):
    """Wraps a store for dry runs, for validation and for hosts a run may not touch: a secret
    that is not set reads as `shown` (default `***`; its name is recorded in `missing`) instead
    of failing. Without a store no secret is set (validation needs none).

    Values that are set come from the wrapped store, which keeps masking them.
    """

    def __init__(self, store: SecretStore | None = None, *, shown: str = MASK) -> None:
        super().__init__(environ={})
        self.store = store if store is not None else SecretStore(environ={})
        self.shown = shown
        self.missing: list[str] = []

    def get(self, name: str) -> str:
        """The secret's value, or `shown` when it is not set."""
        try:
            return self.store.get(name)
        except MissingSecretError:
            if name not in self.missing:
                self.missing.append(name)
            return self.shown

    @property
    def values(self) -> frozenset[str]:
        return self.store.values

    def mask(self, text: str) -> str:
        return self.store.mask(text)


def _read_secrets_file(path: Path) -> dict[str, str]:
    from runbook.language.yamlload import load_file

    doc = load_file(path)
    if doc.problems:
        raise doc.problems[0]
    data = doc.data
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("a secrets file must be a mapping of NAME: value", file=doc.file,
                          line=1, column=1)
    values: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict | list) or value is None:
            loc = doc.location((key,))
            # The message must not show the value: it may be a secret.
            raise ConfigError(f"secret {key!r} must be a string or a number, not "
                              f"{'empty' if value is None else type(value).__name__}: quote "
                              "the value", file=loc.file, line=loc.line, column=loc.column)
        values[str(key)] = value if isinstance(value, str) else str(value)
    return values


def mask_strings(data: Any, mask: Callable[[str], str]) -> Any:
    """`data` (JSON-like: dicts, lists, scalars) with every string, key or value, masked."""
    if isinstance(data, str):
        return mask(data)
    if isinstance(data, Mapping):
        return {mask_strings(k, mask): mask_strings(v, mask) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [mask_strings(v, mask) for v in data]
    return data
