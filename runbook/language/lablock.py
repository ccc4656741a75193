"""The `lock:` block of a lab file: rendered (a redis URL's password may be a secret) and
checked (backend type, settings, URL, ttl), each problem at its key's line (docs/locks.md).

Apart from `labfile` so that the lab reader stays one concept; `labfile` turns the problems
returned here into findings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook.errors import LockSpecError, TemplateError
from runbook.language.yamlload import JsonPath
from runbook.render.secrets import PlaceholderSecrets, SecretStore

if TYPE_CHECKING:
    from runbook.locks.config import LockConfig

LockProblem = tuple[JsonPath, str, bool]
"""Where (JSON path), the message, and whether it points at the key rather than the value."""


def read_lock_block(data: dict[str, Any], path: Path, secrets: SecretStore | None,
                    bad: set[JsonPath]) -> tuple[LockConfig | None, list[LockProblem]]:
    """The lab's lock configuration and the problems of its `lock:` block.

    Absent block: the file backend in the lab file's namespace. None when the block is
    invalid (the schema, in `bad`, or a problem returned here, says why).
    """
    from runbook.locks.config import LockConfig, default_namespace, lock_config_from_block

    block = data.get("lock")
    if block is None:
        return LockConfig(namespace=default_namespace(path)), []
    if not isinstance(block, dict) or any(b[:1] == ("lock",) for b in bad):
        return None, []  # the schema already reported it
    recording = PlaceholderSecrets(secrets) if secrets is not None else None
    rendered, problem = _rendered(block, data, recording)
    if problem is not None:
        return None, [problem]
    try:
        missing = tuple(recording.missing) if recording is not None else ()
        return lock_config_from_block(rendered, path, missing), []
    except LockSpecError as exc:
        key = exc.key if exc.key in block else None
        where: JsonPath = ("lock", key) if key else ("lock",)
        return None, [(where, f"lock{'.' + key if key else ''}: {exc.message}", key is not None)]


def _rendered(block: dict[str, Any], data: dict[str, Any],
              recording: PlaceholderSecrets | None) -> tuple[dict[str, Any], LockProblem | None]:
    """The block with its strings rendered against the lab vars; the first template problem."""
    from runbook.render.templating import Templater

    templater = Templater(recording if recording is not None
                          else PlaceholderSecrets(shown="<secret>"))
    lab_vars = data.get("vars")
    context: dict[str, Any] = dict(lab_vars) if isinstance(lab_vars, dict) else {}
    rendered = dict(block)
    for key, value in block.items():
        if isinstance(value, str):
            try:
                rendered[key] = templater.render(value, dict(context))
            except TemplateError as exc:
                return rendered, (("lock", key), f"lock.{key}: {getattr(exc, 'problem', exc)}",
                                  False)
    return rendered, None
