"""What a dry run (`runbook plan`, `apply --check`) registers in place of real results.

Every field prints as a placeholder naming the step (`<rc of step 'check'>`) so a plan never
shows an invented value; `rc` still computes as 0 and `status` compares as 'success', so
templates doing arithmetic or comparisons on them render.
"""

from __future__ import annotations

from typing import Any

from runbook.model import PowerAction, Step, WaitForAction


class _ShownAs:
    """Mixin: a dry-run stand-in that computes like its value but prints as a placeholder."""

    shown: str

    def __str__(self) -> str:
        return self.shown

    def __format__(self, spec: str) -> str:
        return self.shown


class _PlaceholderInt(_ShownAs, int):
    pass


class _PlaceholderStr(_ShownAs, str):
    pass


def _shown_as(value: int | str, shown: str) -> int | str:
    holder: _PlaceholderInt | _PlaceholderStr = (
        _PlaceholderInt(value) if isinstance(value, int) else _PlaceholderStr(value))
    holder.shown = shown
    return holder


def dry_run_result(step: Step) -> dict[str, Any]:
    """What a dry run registers for `step`: every field prints as `<FIELD of step 'NAME'>`.

    `rc` still computes as 0 and `status` compares as 'success', so `{{ r.rc + 1 }}` or a
    filter on them renders; a power step also has `state`, a wait_for step `elapsed`, like at run time.
    """
    label = f"of step {step.name!r}"
    value: dict[str, Any] = {"output": f"<output {label}>",
                             "rc": _shown_as(0, f"<rc {label}>"),
                             "status": _shown_as("success", f"<status {label}>")}
    if isinstance(step.action, PowerAction):
        value["state"] = f"<power state {label}>"
    if isinstance(step.action, WaitForAction):
        value["elapsed"] = _shown_as(0, f"<elapsed {label}>")
    if step.loop is not None:
        value["results"] = []
        value["failed"] = False
    return value


def dry_run_failure() -> dict[str, Any]:
    """What a dry run shows for `failed_step` / `failed_message` inside rescue and always."""
    return {"failed_step": "<failed_step>", "failed_message": "<failed_message>"}
