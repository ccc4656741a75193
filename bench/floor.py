"""Arm B of the fan-out benchmark: the same job in plain asyncssh, no engine (the floor).

    python bench/floor.py LAB_JSON PAYLOAD [--coalesce]

LAB_JSON (written by bench/fanout.py) lists the hosts and how to reach them. On every host,
concurrently with asyncio.gather: `uname -a`, upload PAYLOAD into a per-host folder over SFTP,
then `md5sum` of it. Exits 1 if any host failed.

This is meant to be the fastest honest script for the job, so that runbook's ratio to it means
something: the known_hosts file and the private key are parsed ONCE up front (given paths,
asyncssh re-reads both for every connection: O(hosts^2) known_hosts lines), host keys are still
verified, no agent is asked, and the ciphers and key types are asyncssh's defaults, as in
`runbook apply`. asyncssh is imported before the clock of nothing in particular: the whole
process is timed from outside, start-up included, like the runbook arm.

With `--coalesce` each connection sends the SSH packets of one turn of the event loop together,
through runbook's `runbook.hosts.coalesce.DirectConnector`, as runbook's own connections do:
not plain asyncssh any more, but the floor for the same wire behaviour (fanout.py's
`--coalesced-floor` arm), so that what that trick buys runbook is shown apart from the rest.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import asyncssh


async def job(host: dict[str, Any], payload: Path, options: dict[str, Any]) -> bool:
    """One host's share of the work; True when every command succeeded."""
    async with asyncssh.connect(host["address"], port=host["port"], username=host["user"],
                                **options) as conn:
        uname = await conn.run("uname -a")
        dest = f"{host['dest']}/{host['id']}"
        async with conn.start_sftp_client() as sftp:
            await sftp.makedirs(dest, exist_ok=True)
            await sftp.put(str(payload), dest)
        digest = await conn.run(f"md5sum {dest}/{payload.name}")
        return uname.exit_status == 0 and digest.exit_status == 0


async def main(hosts: list[dict[str, Any]], payload: Path, coalesce: bool = False) -> int:
    options: dict[str, Any] = {
        "known_hosts": asyncssh.read_known_hosts(hosts[0]["known_hosts"]),
        "client_keys": [asyncssh.read_private_key(hosts[0]["key"])],
        "agent_path": None,
    }
    if coalesce:
        from runbook.hosts.coalesce import DirectConnector

        options["tunnel"] = DirectConnector()
    results = await asyncio.gather(*(job(h, payload, options) for h in hosts),
                                   return_exceptions=True)
    failed = [(h["id"], r) for h, r in zip(hosts, results, strict=True) if r is not True]
    if failed:
        print(f"floor: {len(failed)} host(s) failed: {failed[:5]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    lab_hosts = json.loads(Path(sys.argv[1]).read_text())
    sys.exit(asyncio.run(main(lab_hosts, Path(sys.argv[2]), "--coalesce" in sys.argv[3:])))
