"""The one error tree: every error class lives in runbook/errors.py, is named ...Error, derives
from RunbookError and is exported from `runbook` (internal ones excepted)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import runbook
from runbook import errors

PACKAGE = Path(runbook.__file__).parent
INTERNAL = {"ShellDiedError", "TransferStoppedError", "HeaderTemplateError",
            "ExpectTimeoutError", "StreamEndedError", "UnsupportedSchemaError"}


def error_classes() -> list[type[BaseException]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, BaseException) and c.__module__ == errors.__name__]


def test_every_error_is_named_error_derives_from_the_root_and_is_exported() -> None:
    classes = error_classes()
    assert len(classes) >= 15
    for cls in classes:
        assert cls.__name__.endswith("Error"), cls
        assert issubclass(cls, errors.RunbookError), cls
        assert cls.__name__ in errors.__all__, cls
        if cls.__name__ not in INTERNAL:
            assert getattr(runbook, cls.__name__) is cls


def test_no_exception_class_is_defined_outside_errors_py() -> None:
    names = {c.__name__ for c in error_classes()} | {"Exception", "BaseException"}
    outside = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if bases & names or node.name.endswith("Error"):
                    outside.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert outside == []


def test_a_bad_timeout_is_a_config_error_and_still_a_value_error() -> None:
    from runbook.hosts.contract import check_timeout

    for bad in (0, -1, float("nan"), True, "5"):
        try:
            check_timeout(bad)  # type: ignore[arg-type]
        except errors.ConfigError as exc:
            assert isinstance(exc, ValueError)
        else:
            raise AssertionError(f"{bad!r} was accepted")
