"""Backpressure of streamed output through the keeper (docs/persist.md): a run that does not
read its socket stops the keeper reading the SSH channel, so the command on the host blocks
instead of the keeper buffering its output; once the run reads, every byte arrives."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runbook.persist.client import start_keeper
from runbook.persist.kepthost import host_spec
from runbook.persist.wire import HEADER, encode
from tests.sshlab import SshdLab

SIZE = 8 * 1024 * 1024


def _frame(sock: socket.socket) -> dict[str, Any]:
    def exactly(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            assert chunk, "the keeper closed the socket"
            data += chunk
        return data

    (size,) = HEADER.unpack(exactly(HEADER.size))
    message: dict[str, Any] = json.loads(exactly(size))
    return message


@pytest.fixture
def keeper_sock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "state"))
    sock = start_keeper(60.0)
    try:
        yield sock
    finally:
        sock.close()
        subprocess.run([sys.executable, "-m", "runbook", "persist", "--stop"], env=os.environ,
                       capture_output=True, timeout=30, check=False)


def test_a_slow_run_holds_the_command_back(keeper_sock: socket.socket, sshd_lab: SshdLab,
                                           ssh_host_factory: Callable[..., Any],
                                           tmp_path: Path) -> None:
    done = tmp_path / f"done-{uuid.uuid4().hex[:8]}"
    sock = keeper_sock
    sock.sendall(encode({"id": 1, "op": "hello", "idle": 60}))
    assert "pid" in _frame(sock)["result"]
    sock.sendall(encode({"op": "host", "host": 1, "spec": host_spec(ssh_host_factory(0))}))
    sock.sendall(encode({"op": "oneshot", "id": 2, "host": 1, "stream": True,
                         "cmd": f"head -c {SIZE} /dev/zero | tr '\\0' x; echo done > {done}",
                         "timeout": 120, "output_limit": 65536}))
    # Not reading: without backpressure the keeper would take all 8 MiB within moments and
    # the command would finish; with it the host's `head` blocks on a full channel.
    deadline = time.monotonic() + 6.0
    while time.monotonic() < deadline:
        assert not done.exists(), "the keeper buffered the whole output of a slow run"
        time.sleep(0.1)
    streamed = 0
    while "chunk" in (message := _frame(sock)):
        streamed += len(message["chunk"])
    assert message["id"] == 2 and message["result"][3] == 0, message["result"][2:]
    assert streamed == SIZE
    assert done.exists()
