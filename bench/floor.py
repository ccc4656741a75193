"""Arm B of the fan-out benchmark: the same job in plain asyncssh, no engine (the floor).

    python bench/floor.py LAB_JSON PAYLOAD

LAB_JSON (written by bench/fanout.py) lists the hosts and how to reach them. On every host,
concurrently with asyncio.gather: `uname -a`, upload PAYLOAD into a per-host folder over SFTP,
then `md5sum` of it. Exits 1 if any host failed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import asyncssh


async def job(host: dict[str, Any], payload: Path) -> bool:
    """One host's share of the work; True when every command succeeded."""
    async with asyncssh.connect(
        host["address"], port=host["port"], username=host["user"],
        client_keys=[host["key"]], known_hosts=host["known_hosts"], agent_path=None,
    ) as conn:
        uname = await conn.run("uname -a")
        dest = f"{host['dest']}/{host['id']}"
        async with conn.start_sftp_client() as sftp:
            await sftp.makedirs(dest, exist_ok=True)
            await sftp.put(str(payload), dest)
        digest = await conn.run(f"md5sum {dest}/{payload.name}")
        return uname.exit_status == 0 and digest.exit_status == 0


async def main(hosts: list[dict[str, Any]], payload: Path) -> int:
    results = await asyncio.gather(*(job(h, payload) for h in hosts), return_exceptions=True)
    failed = [h["id"] for h, ok in zip(hosts, results, strict=True) if ok is not True]
    if failed:
        print(f"floor: {len(failed)} host(s) failed: {failed[:5]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    lab_hosts = json.loads(Path(sys.argv[1]).read_text())
    sys.exit(asyncio.run(main(lab_hosts, Path(sys.argv[2]))))
