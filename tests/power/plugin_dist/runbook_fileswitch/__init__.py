"""`fileswitch`: a power controller whose switch is a file holding `on` or `off`.

Lab example::

    power_control:
      type: fileswitch
      path: /tmp/switches/{name}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from runbook.power import PowerController, PowerState
from runbook.results import Status


class FileSwitchPowerController(PowerController):
    """Writes `on`/`off` to `path` (a template with `{name}`)."""

    type_name: ClassVar[str] = "fileswitch"

    def __init__(self, path: str, *, cycle_delay: float = 0.0) -> None:
        super().__init__(cycle_delay=cycle_delay)
        self.path = path

    def _file(self, host: Any) -> Path:
        return Path(self.path.format(name=host.id))

    async def on(self, host: Any) -> tuple[Status, str]:
        self._file(host).write_text("on")
        return Status.Success, "switched on"

    async def off(self, host: Any) -> tuple[Status, str]:
        self._file(host).write_text("off")
        return Status.Success, "switched off"

    async def status(self, host: Any) -> PowerState | None:
        file = self._file(host)
        return PowerState(file.read_text()) if file.exists() else None
