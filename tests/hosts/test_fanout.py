"""Fan-out helpers: every matching host, results by id, one failure never cancels the others."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

from runbook import Host, Lab, LocalHost, RemoteHost, RunResult, Status, do_for_all_hosts, run_on_all_hosts


def test_run_on_all_hosts_with_pattern() -> None:
    lab = Lab([LocalHost("router1"), LocalHost("edge-router"), LocalHost("server")])
    results = asyncio.run(run_on_all_hosts(["echo hi", "echo there"], pattern=re.compile("router"), lab=lab))
    assert list(results) == ["router1", "edge-router"]
    for result in results.values():
        assert isinstance(result, RunResult)
        assert [s.output for s in result.statuses] == ["hi\n", "there\n"]


def test_do_for_all_hosts_keeps_exceptions_per_host() -> None:
    lab = Lab([LocalHost("a"), LocalHost("b"), LocalHost("c")])

    async def work(host: Host, suffix: str) -> str:
        if host.id == "b":
            raise RuntimeError("b broke")
        await asyncio.sleep(0.05)
        return host.id + suffix

    results = asyncio.run(do_for_all_hosts(work, "!", lab=lab))
    assert results["a"] == "a!"
    assert results["c"] == "c!"
    assert isinstance(results["b"], RuntimeError)


def test_serial_runs_in_lab_order_without_overlap() -> None:
    lab = Lab([LocalHost(f"h{i}") for i in range(4)])
    events: list[str] = []

    async def work(host: Host) -> None:
        events.append(f"start {host.id}")
        await asyncio.sleep(0.01)
        events.append(f"end {host.id}")

    asyncio.run(do_for_all_hosts(work, concurrent=False, lab=lab))
    assert events == [f"{kind} h{i}" for i in range(4) for kind in ("start", "end")]


def test_unbound_method_and_real_ssh_hosts(
    ssh_host_factory: Callable[..., RemoteHost], tmp_path: Path
) -> None:
    payload = tmp_path / "fw.bin"
    payload.write_bytes(b"\x00" * 1024)

    async def scenario() -> dict[str, object]:
        hosts = [ssh_host_factory(i) for i in range(6)] + [
            RemoteHost("dead", "127.0.0.1", port=1, connect_timeout=2)
        ]
        lab = Lab(hosts)
        try:
            return await do_for_all_hosts(
                RemoteHost.put, src_files=[payload], dest_dir=tmp_path / "dest", lab=lab
            )
        finally:
            await lab.close()

    results = asyncio.run(scenario())
    assert len(results) == 7
    assert all(r == (Status.Success, r[1]) for k, r in results.items() if k != "dead")  # type: ignore[index]
    assert isinstance(results["dead"], ConnectionError)
