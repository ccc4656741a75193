"""The keeper's wire format: length-prefixed JSON frames on a Unix stream socket.

Each frame is a 4-byte big-endian length and a JSON object. Requests carry an `id`; many are
in flight at once and the answers come back in any order (`{"id", "result"}`, `{"id",
"error"}`, `{"id", "chunk"}` for streamed output, `{"id", "cancelled"}`). Bytes travel as
text decoded with `surrogateescape`, so output that is not UTF-8 arrives byte for byte.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from typing import TYPE_CHECKING, Any

from runbook.errors import KeeperError

if TYPE_CHECKING:
    import asyncio

HEADER = struct.Struct("!I")
#: A frame larger than this is a broken peer, not a message (output is bounded before).
MAX_FRAME = 256 * 1024 * 1024
_CREDENTIALS = struct.Struct("3i")


def encode(message: dict[str, Any]) -> bytes:
    """One frame holding `message`."""
    body = json.dumps(message, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message; None at end of stream. KeeperError for a frame that is not one."""
    import asyncio

    try:
        head = await reader.readexactly(HEADER.size)
        (size,) = HEADER.unpack(head)
        if size > MAX_FRAME:
            raise KeeperError(f"a frame of {size} bytes: the peer does not speak the protocol")
        body = await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    message = json.loads(body)
    if not isinstance(message, dict):
        raise KeeperError("a frame that is not a JSON object: the peer does not speak the protocol")
    return message


def to_text(data: bytes) -> str:
    """Bytes as JSON-safe text (undecodable bytes kept as surrogates)."""
    return data.decode("utf-8", "surrogateescape")


def to_bytes(text: str) -> bytes:
    """The inverse of `to_text`."""
    return text.encode("utf-8", "surrogateescape")


def peer_credentials(sock: socket.socket) -> tuple[int, int]:
    """The pid and uid of the process at the other end of a Unix socket (SO_PEERCRED, from
    the kernel: the peer cannot lie about them)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size)
    pid, uid, _gid = _CREDENTIALS.unpack(raw)
    return int(pid), int(uid)


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket."""
    return peer_credentials(sock)[1]


def same_user(sock: socket.socket) -> bool:
    """True when the peer runs as this process's user: the only one a keeper serves."""
    return peer_uid(sock) == os.getuid()
