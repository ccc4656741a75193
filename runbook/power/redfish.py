"""`redfish` power controller: a BMC's Redfish REST API (ComputerSystem.Reset, PowerState).

Lab example::

    hosts:
      node9:
        address: 10.0.0.59
        power_control:
          type: redfish
          url: https://10.0.100.59        # the BMC; /redfish/v1 is appended
          username: root
          password: "{{ secret('bmc/node9') }}"
          system_id: System.Embedded.1    # optional when the BMC has exactly one system
          verify_tls: true                # default; false for self-signed BMC certificates
          ca_file: /etc/lab/bmc-ca.pem    # optional: trust this CA instead
          timeout: 20                     # per HTTP request, and for a cycle's power-off

Actions: on = ResetType `On`, off = `ForceOff`, cycle = `PowerCycle` when the BMC lists it
among the allowed reset types, else `ForceOff`, wait until PowerState is Off (up to `timeout`),
`cycle_delay`, `On`. Status reads the system's PowerState (`On`/`PoweringOn` = on,
`Off`/`PoweringOff` = off). HTTP Basic authentication; the standard library does the HTTP, in
a worker thread, so nothing extra is installed and the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from runbook.errors import PowerError, PowerSpecError, RedfishHttpError
from runbook.power.base import PowerController, PowerState, check_positive
from runbook.results import Status

if TYPE_CHECKING:
    from runbook.hosts.base import Host

ON_STATES = {"On": PowerState.ON, "PoweringOn": PowerState.ON,
             "Off": PowerState.OFF, "PoweringOff": PowerState.OFF}
RESET_TYPES = {"on": "On", "off": "ForceOff", "cycle": "PowerCycle"}
POLL_INTERVAL = 1.0


class RedfishPowerController(PowerController):
    """Power through a BMC's Redfish service."""

    type_name: ClassVar[str] = "redfish"

    def __init__(self, url: str, username: str = "", password: str = "", *,
                 system_id: str | None = None, verify_tls: bool = True,
                 ca_file: str | None = None, timeout: float = 20.0,
                 cycle_delay: float = 2.0) -> None:
        super().__init__(cycle_delay=cycle_delay)
        if not url.startswith(("http://", "https://")) or not _url_host(url):
            raise PowerSpecError(f"must be an http:// or https:// URL with a host, like "
                                 f"https://10.0.100.59, got {url!r}", key="url")
        if ca_file is not None and not _is_file(ca_file):
            raise PowerSpecError(f"CA file {ca_file!r} does not exist (give the path of a PEM "
                                 "file, or leave ca_file out to use the system's CAs)",
                                 key="ca_file")
        if system_id is not None and (not system_id or "/" in system_id):
            raise PowerSpecError(f"must be a system id like 'System.Embedded.1', got "
                                 f"{system_id!r}", key="system_id")
        self.url = url.rstrip("/")
        self.username = username
        self.password = password
        self.system_id = system_id
        self.verify_tls = verify_tls
        self.ca_file = ca_file
        self.timeout = check_positive("timeout", timeout)
        self._system_path: str | None = None
        self._system: dict[str, Any] | None = None

    async def on(self, host: Host) -> tuple[Status, str]:
        return await self._reset_action(host, "on")

    async def off(self, host: Host) -> tuple[Status, str]:
        return await self._reset_action(host, "off")

    async def cycle(self, host: Host) -> tuple[Status, str]:
        try:
            allowed = await self._allowed_reset_types(host)
        except PowerError as exc:
            return Status.Error, str(exc)
        if allowed is None or "PowerCycle" in allowed:
            return await self._reset_action(host, "cycle")
        status, message = await self.off(host)
        if not status.is_ok:
            return status, f"cycle stopped, off failed: {message}"
        try:
            await self._wait_until_off(host)
        except PowerError as exc:
            return Status.Failed, f"cycle stopped: {exc}"
        await asyncio.sleep(self.cycle_delay)
        status, on_message = await self.on(host)
        if not status.is_ok:
            return status, f"off done, then on failed: {on_message}"
        return status, f"ForceOff, off confirmed, {self.cycle_delay:g}s pause, On: {on_message}"

    async def status(self, host: Host) -> PowerState | None:
        system = await self._get_system(host, refresh=True)
        state = system.get("PowerState")
        if state not in ON_STATES:
            raise PowerError(f"power status of {host.id!r}: BMC {self.url} reports PowerState "
                             f"{state!r}")
        return ON_STATES[state]

    def describe(self, host: Host, action: str) -> str:
        system = self.system_id or "<the single system>"
        user = f" as {self.username!r}" if self.username else ""
        if action == "status":
            return f"GET {self.url}/redfish/v1/Systems/{system} PowerState{user}"
        reset = RESET_TYPES.get(action, action)
        note = " (or ForceOff, wait for Off, pause, On)" if action == "cycle" else ""
        return (f"POST {self.url}/redfish/v1/Systems/{system}/Actions/ComputerSystem.Reset "
                f"ResetType={reset}{note}{user}")

    def __repr__(self) -> str:
        return f"RedfishPowerController(url={self.url!r}, system_id={self.system_id!r})"

    # -- Redfish ------------------------------------------------------------------------
    async def _reset_action(self, host: Host, action: str) -> tuple[Status, str]:
        reset_type = RESET_TYPES[action]
        try:
            system = await self._get_system(host)
            target = (system.get("Actions", {}).get("#ComputerSystem.Reset", {}).get("target")
                      or f"{self._system_path}/Actions/ComputerSystem.Reset")
            await self._request(host, "POST", target, {"ResetType": reset_type})
        except RedfishHttpError as exc:
            # The BMC answered and refused (not an outage): the action failed.
            return (Status.Failed if exc.method == "POST" else Status.Error), str(exc)
        except PowerError as exc:
            return Status.Error, str(exc)
        return Status.Success, f"ResetType {reset_type} accepted by {self.url}"

    async def _allowed_reset_types(self, host: Host) -> list[str] | None:
        system = await self._get_system(host)
        action = system.get("Actions", {}).get("#ComputerSystem.Reset", {})
        allowed = action.get("ResetType@Redfish.AllowableValues")
        return list(allowed) if isinstance(allowed, list) else None

    async def _wait_until_off(self, host: Host) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while await self.status(host) is not PowerState.OFF:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise PowerError(f"{host.id!r} still not off {self.timeout:g}s after ForceOff")
            await asyncio.sleep(min(POLL_INTERVAL, remaining))

    async def _get_system(self, host: Host, *, refresh: bool = False) -> dict[str, Any]:
        if self._system_path is None:
            self._system_path = await self._find_system(host)
        if self._system is None or refresh:
            self._system = await self._request(host, "GET", self._system_path)
        return self._system

    async def _find_system(self, host: Host) -> str:
        if self.system_id is not None:
            return f"/redfish/v1/Systems/{self.system_id}"
        collection = await self._request(host, "GET", "/redfish/v1/Systems")
        members = [m.get("@odata.id") for m in collection.get("Members", [])
                   if isinstance(m, dict)]
        if len(members) == 1 and isinstance(members[0], str):
            return members[0]
        ids = ", ".join(str(m).rsplit("/", 1)[-1] for m in members) or "none"
        raise PowerError(f"power control of {host.id!r}: BMC {self.url} has "
                         f"{len(members)} systems ({ids}); set `system_id` to one of them")

    async def _request(self, host: Host, method: str, path: str,
                       body: dict[str, Any] | None = None) -> dict[str, Any]:
        return await asyncio.to_thread(self._request_sync, host.id, method, path, body)

    def _request_sync(self, host_id: str, method: str, path: str,
                      body: dict[str, Any] | None) -> dict[str, Any]:
        url = path if path.startswith(("http://", "https://")) else self.url + path
        headers = {"Accept": "application/json", "OData-Version": "4.0"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        what = f"power control of {host_id!r}: {method} {url}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout,
                                        context=self._ssl_context()) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise RedfishHttpError(f"{what}: {_http_error(exc)}", method=method,
                                   code=exc.code) from None
        except urllib.error.URLError as exc:
            raise PowerError(f"{what}: BMC not reachable: {exc.reason}") from None
        except (TimeoutError, OSError) as exc:
            raise PowerError(f"{what}: {type(exc).__name__}: {exc or 'timed out'}") from None
        if not raw.strip():
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise PowerError(f"{what}: the answer is not JSON: {raw[:200]!r}") from None
        return parsed if isinstance(parsed, dict) else {}

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.url.startswith("https://"):
            return None
        if not self.verify_tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        cafile = str(Path(self.ca_file).expanduser()) if self.ca_file else None
        return ssl.create_default_context(cafile=cafile)


def _is_file(text: str) -> bool:
    try:
        return Path(text).expanduser().is_file()
    except RuntimeError:  # ~user of an unknown user
        return False


def _url_host(url: str) -> str | None:
    """The host part of `url`, or None when the URL cannot be parsed (`https://[::1`)."""
    try:
        return urllib.parse.urlsplit(url).hostname
    except ValueError:
        return None


def _http_error(exc: urllib.error.HTTPError) -> str:
    """`HTTP 401 ...: message` using the Redfish error body when there is one."""
    detail = ""
    try:
        body = json.loads(exc.read() or b"{}")
        detail = body.get("error", {}).get("message", "")
    except (ValueError, AttributeError, OSError):
        pass
    hint = " (check username and password)" if exc.code in (401, 403) else ""
    return f"HTTP {exc.code} {exc.reason}{hint}" + (f": {detail}" if detail else "")
