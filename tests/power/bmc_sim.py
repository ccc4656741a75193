"""A real IPMI-over-LAN BMC on loopback, built on pyghmi's BMC server (RMCP+, IPMI 2.0).

Run as ``python bmc_sim.py PORT_FILE LOG_FILE [--user U --password P]``: binds an ephemeral UDP
port on 127.0.0.1, writes it to PORT_FILE (so the test knows it is listening), then serves
chassis power requests, appending ``ACTION TIME_NS`` to LOG_FILE for each one. pyghmi's sample
fakebmc has no power cycle; this one implements on, off, cycle and soft shutdown.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pyghmi.ipmi.bmc as bmc

# IPMI completion code for "command not supported in present state" (chassis is off).
NOT_IN_PRESENT_STATE = 0xD5


class SimBmc(bmc.Bmc):  # type: ignore[misc]
    """Keeps a power state and logs every chassis control request."""

    def __init__(self, authdata: dict[str, str], log: Path) -> None:
        super().__init__(authdata, port=0, address="127.0.0.1")
        # pyghmi routes session packets by `self.port`: make it the port actually bound.
        self.port = self.serversocket.getsockname()[1]
        self.powerstate = "off"
        self.log = log

    def _record(self, action: str) -> None:
        with self.log.open("a") as out:
            out.write(f"{action} {time.time_ns()}\n")

    def get_power_state(self) -> str:
        return self.powerstate

    def power_on(self) -> None:
        self._record("on")
        self.powerstate = "on"

    def power_off(self) -> None:
        self._record("off")
        self.powerstate = "off"

    def power_shutdown(self) -> None:
        self._record("shutdown")
        self.powerstate = "off"

    def power_cycle(self) -> int | None:
        if self.powerstate == "off":
            return NOT_IN_PRESENT_STATE
        self._record("cycle")
        return None

    def power_reset(self) -> None:
        self._record("reset")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port_file", type=Path)
    parser.add_argument("log_file", type=Path)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="s3cret-pw")
    args = parser.parse_args()
    sim = SimBmc({args.user: args.password}, args.log_file)
    port = sim.port
    tmp = args.port_file.with_suffix(".tmp")
    tmp.write_text(str(port))
    os.replace(tmp, args.port_file)
    sim.listen()


if __name__ == "__main__":
    main()
