"""`tasmota` power controller: a Tasmota smart plug switched over its HTTP command API.

Lab example::

    power_control:
      type: tasmota
      url: http://10.0.0.201
      password: "{{ secret('plugs/pi4') }}"
      relay: 1
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, ClassVar

from runbook.errors import PowerError
from runbook.power import PowerController, PowerSpecError, PowerState
from runbook.results import Status

if TYPE_CHECKING:
    from runbook.hosts.base import Host


class TasmotaPowerController(PowerController):
    """Switches relay `relay` of the Tasmota device at `url`."""

    type_name: ClassVar[str] = "tasmota"

    def __init__(self, url: str, user: str = "admin", password: str = "", *, relay: int = 1,
                 timeout: float = 10.0, cycle_delay: float = 2.0) -> None:
        super().__init__(cycle_delay=cycle_delay)
        if not url.startswith(("http://", "https://")):
            raise PowerSpecError(f"must be an http:// URL, got {url!r}", key="url")
        if not 1 <= relay <= 8:
            raise PowerSpecError(f"must be 1-8, got {relay}", key="relay")
        self.url = url.rstrip("/")
        self.user = user
        self.password = password
        self.relay = relay
        self.timeout = timeout

    async def on(self, host: Host) -> tuple[Status, str]:
        return await self._switch(host, "On")

    async def off(self, host: Host) -> tuple[Status, str]:
        return await self._switch(host, "Off")

    async def status(self, host: Host) -> PowerState | None:
        state = await self._command(host, f"Power{self.relay}")
        return PowerState.ON if state == "ON" else PowerState.OFF

    def describe(self, host: Host, action: str) -> str:
        if action == "cycle":
            return super().describe(host, action)
        verb = {"on": "On", "off": "Off", "status": ""}.get(action, action)
        return f"GET {self.url}/cm?cmnd=Power{self.relay} {verb}".rstrip() + f" ({host.id})"

    async def _switch(self, host: Host, verb: str) -> tuple[Status, str]:
        try:
            state = await self._command(host, f"Power{self.relay} {verb}")
        except PowerError as exc:
            return Status.Error, str(exc)
        return Status.Success, f"relay {self.relay} is {state}"

    async def _command(self, host: Host, command: str) -> str:
        query = {"cmnd": command}
        if self.password:
            query.update(user=self.user, password=self.password)
        url = f"{self.url}/cm?{urllib.parse.urlencode(query)}"
        try:
            body = await asyncio.to_thread(self._get, url)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            # The URL carries the password: name only the device.
            raise PowerError(f"tasmota plug {self.url} for {host.id!r}: {exc}") from None
        # Tasmota answers {"POWER": "ON"} for a single relay, {"POWER2": ...} otherwise.
        for key in (f"POWER{self.relay}", "POWER"):
            if key in body:
                return str(body[key])
        raise PowerError(f"tasmota plug {self.url} for {host.id!r}: unexpected answer {body}")

    def _get(self, url: str) -> dict[str, object]:
        with urllib.request.urlopen(url, timeout=self.timeout) as response:
            data = json.loads(response.read())
        if not isinstance(data, dict):
            raise ValueError(f"unexpected answer {data!r}")
        return data
