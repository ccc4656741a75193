"""Peer arms of the fan-out benchmark: the same job with pyinfra and with parallel-ssh.

    python bench/peers.py pssh LAB_JSON PAYLOAD      # the parallel-ssh arm itself

`peer_arms()` returns the argv of each peer that is installed for `python` (the `bench` extra,
or a separate virtualenv passed with `bench/fanout.py --peer-python`): pyinfra (`pyinfra
INVENTORY DEPLOY -y --parallel N`, paramiko underneath) and parallel-ssh (libssh2 in gevent,
`ParallelSSHClient`: `run_command`, `copy_file` over SFTP, `run_command`). Both do the job of
bench/floor.py on every host: `uname -a`, upload the payload into a per-host folder, `md5sum`
of it. parallel-ssh does not verify host keys (it has no known_hosts option); pyinfra reads the
lab's known_hosts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def installed(python: str, module: str) -> bool:
    """True when `python` can import `module`."""
    probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True, check=False)
    return probe.returncode == 0


def peer_arms(python: str, work: Path, floor_json: Path, payload: Path) -> dict[str, list[str]]:
    """Name -> argv of each installed peer for the hosts in `floor_json`."""
    arms: dict[str, list[str]] = {}
    hosts: list[dict[str, Any]] = json.loads(floor_json.read_text())
    if installed(python, "pyinfra"):
        arms["pyinfra"] = _pyinfra_argv(python, work, hosts, payload)
    if installed(python, "pssh.clients"):
        arms["parallel-ssh"] = [python, str(HERE), "pssh", str(floor_json), str(payload)]
    return arms


def _pyinfra_argv(python: str, work: Path, hosts: list[dict[str, Any]],
                  payload: Path) -> list[str]:
    tag = f"pyinfra{len(hosts)}"
    inventory = work / f"{tag}_inventory.py"
    first = hosts[0]
    data = {"ssh_port": first["port"], "ssh_user": first["user"], "ssh_key": first["key"],
            "ssh_known_hosts_file": first["known_hosts"]}
    rows = [(h["address"], {**data, "dest": f"{h['dest']}-pyinfra/{h['id']}"}) for h in hosts]
    inventory.write_text(f"hosts = {rows!r}\n")
    deploy = work / f"{tag}_deploy.py"
    deploy.write_text(
        "from pyinfra import host\n"
        "from pyinfra.operations import files, server\n"
        "server.shell(name='uname', commands=['uname -a'])\n"
        f"files.put(name='upload', src={str(payload)!r}, "
        f"dest=host.data.dest + '/{payload.name}')\n"
        f"server.shell(name='checksum', commands=['md5sum ' + host.data.dest + '/{payload.name}'])\n"
    )
    return [python, "-m", "pyinfra", str(inventory), str(deploy), "-y", "--parallel",
            str(len(hosts))]


def _pssh_job(floor_json: Path, payload: Path) -> int:
    """The parallel-ssh arm: one client over all hosts, each stage joined before the next."""
    from gevent import joinall
    from pssh.clients import ParallelSSHClient
    from pssh.config import HostConfig

    hosts: list[dict[str, Any]] = json.loads(floor_json.read_text())
    first = hosts[0]
    client = ParallelSSHClient(
        [h["address"] for h in hosts], user=first["user"], port=first["port"],
        pkey=first["key"], pool_size=len(hosts), allow_agent=False, num_retries=1,
        host_config=[HostConfig(port=first["port"], user=first["user"], private_key=first["key"])
                     for _ in hosts])
    problems: list[str] = []
    uname = client.run_command("uname -a", stop_on_errors=False)
    client.join(uname)
    problems += [f"uname {o.host}: {o.exception or o.exit_code}" for o in uname
                 if o.exception or o.exit_code != 0]
    dests = [f"{h['dest']}-pssh/{h['id']}/{payload.name}" for h in hosts]
    copies = client.copy_file(str(payload), "%(dest)s", copy_args=[{"dest": d} for d in dests])
    joinall(copies, raise_error=False)
    problems += [f"copy: {g.exception!r}" for g in copies if g.exception is not None]
    digest = client.run_command("md5sum %s", host_args=[(d,) for d in dests],
                                stop_on_errors=False)
    client.join(digest)
    problems += [f"md5sum {o.host}: {o.exception or o.exit_code} {list(o.stderr or [])}"
                 for o in digest if o.exception or o.exit_code != 0]
    if problems:
        print(f"parallel-ssh: {len(problems)} failure(s): {problems[:3]}", file=sys.stderr)
    failed = len(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "pssh":
        raise SystemExit(__doc__)
    sys.exit(_pssh_job(Path(sys.argv[2]), Path(sys.argv[3])))
