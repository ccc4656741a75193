"""put / get rules (runbook.hosts.transfer, runbook.hosts.sftp) on LocalHost and real OpenSSH:
files appear whole or not at all, links are followed, broken links and loops are skipped."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from runbook import Host, Status
from tests.hosts.conftest import HostFactory
from tests.hosts.test_host_contract import on_host

BIG = 512 << 20  # sparse: costs no disk; the transfer is cancelled long before it ends


def temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".runbook-" in p.name]


async def cancel_once_started(transfer: asyncio.Task[tuple[Status, str]], final: Path) -> None:
    """Cancel `transfer` as soon as bytes are being written (temporary or final), then wait."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not transfer.done():
        started = [p for p in final.parent.iterdir() if ".runbook-" in p.name
                   and p.stat().st_size > 0]
        if started or final.stat().st_size != len(b"old"):
            break
        assert loop.time() < deadline, "the transfer never started writing"
        await asyncio.sleep(0.002)
    assert not transfer.done(), "the transfer ended before it could be interrupted"
    transfer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await transfer


@pytest.mark.parametrize("direction", ["put", "get"])
def test_interrupted_transfer_leaves_old_content_and_no_temporary(
        host_factory: HostFactory, tmp_path: Path, direction: str) -> None:
    source = tmp_path / "src" / "image.bin"
    source.parent.mkdir()
    with source.open("wb") as big:
        big.truncate(BIG)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "image.bin").write_bytes(b"old")
    (tmp_path / "small.txt").write_text("small")

    async def scenario(host: Host) -> None:
        if direction == "put":
            transfer = asyncio.ensure_future(host.put(source, dest))
        else:
            transfer = asyncio.ensure_future(host.get(str(source), dest))
        await cancel_once_started(transfer, dest / "image.bin")
        # the host stays usable, and a complete transfer still works
        status, message = await host.put(tmp_path / "small.txt", dest)
        assert status is Status.Success, message

    on_host(host_factory, scenario)
    assert (dest / "image.bin").read_bytes() == b"old"
    assert temporaries(dest) == []


def test_complete_transfer_replaces_the_file_and_keeps_no_temporary(
        host_factory: HostFactory, tmp_path: Path) -> None:
    (tmp_path / "new.txt").write_text("new")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "new.txt").write_text("old content, longer than the new")

    async def scenario(host: Host) -> None:
        status, message = await host.put(tmp_path / "new.txt", dest, mode=0o600)
        assert status is Status.Success, message
        status, message = await host.get(str(dest / "new.txt"), tmp_path / "back")
        assert status is Status.Success, message

    on_host(host_factory, scenario)
    assert (dest / "new.txt").read_text() == "new"
    assert (dest / "new.txt").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "back" / "new.txt").read_text() == "new"
    assert temporaries(dest) == [] and temporaries(tmp_path / "back") == []


def test_get_follows_links_and_skips_broken_ones_and_loops(host_factory: HostFactory,
                                                           tmp_path: Path) -> None:
    target = tmp_path / "var" / "app" / "x.log"
    target.parent.mkdir(parents=True)
    target.write_text("log line\n")
    logs = tmp_path / "logs"
    (logs / "sub").mkdir(parents=True)
    (logs / "plain.txt").write_text("plain")
    os.symlink(target, logs / "current")           # absolute target
    os.symlink("/nonexistent/runbook/gone", logs / "broken")
    os.symlink("..", logs / "sub" / "up")           # a loop back to logs
    os.symlink("self", logs / "self")               # a link to itself (ELOOP)
    back = tmp_path / "back"

    async def scenario(host: Host) -> None:
        status, message = await host.get([str(logs), str(logs / "current")], back)
        assert status is Status.Success, message
        for name in ("broken", "up", "self"):
            assert name in message, message

    on_host(host_factory, scenario)
    assert (back / "logs" / "current").read_text() == "log line\n"
    assert not (back / "logs" / "current").is_symlink()
    assert (back / "logs" / "plain.txt").read_text() == "plain"
    assert (back / "current").read_text() == "log line\n"
    assert not (back / "logs" / "broken").exists()
    assert not (back / "logs" / "sub" / "up").exists()
