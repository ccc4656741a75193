"""Bounded command output (runbook.hosts.output) on LocalHost and real OpenSSH."""

from __future__ import annotations

import pytest

from runbook import Host, Status
from runbook.hosts.output import DEFAULT_OUTPUT_LIMIT, BoundedOutput
from tests.hosts.conftest import HostFactory
from tests.hosts.test_host_contract import on_host

# 3 MB of numbered lines: "000000\n000001\n..." (7 bytes a line)
PRINT_3MB = "seq -w 0 428570"
LINES = [f"{i:06d}\n" for i in range(428571)]
FULL = "".join(LINES).encode()


def test_bounded_output_keeps_both_ends_and_feeds_the_sink() -> None:
    seen: list[bytes] = []
    out = BoundedOutput(10, seen.append)
    for chunk in (b"0123456", b"789abcdefgh", b"ijklmnop", b"qrstuvwxyz"):
        out.write(chunk)
    assert b"".join(seen) == b"0123456789abcdefghijklmnopqrstuvwxyz"
    assert out.total == 36 and out.omitted == 16
    assert out.text() == ("0123456789\n[runbook: 16 bytes of output left out here, 36 in all; "
                          "output_limit keeps the first and last 10 bytes]\nqrstuvwxyz")
    small = BoundedOutput(10)
    small.write(b"x" * 20)
    assert small.text() == "x" * 20  # up to twice the limit nothing is left out
    everything = BoundedOutput(0)
    everything.write(FULL)
    assert everything.text().encode() == FULL
    with pytest.raises(ValueError, match="output limit"):
        BoundedOutput(-1)


@pytest.mark.parametrize("kind", ["run", "oneshot"])
def test_big_output_is_bounded_and_the_sink_gets_all_of_it(host_factory: HostFactory,
                                                           kind: str) -> None:
    seen = bytearray()

    async def scenario(host: Host) -> None:
        if kind == "run":
            result = (await host.run(PRINT_3MB, timeout=60, output_limit=7000,
                                     sink=seen.extend)).only
            again = (await host.run("echo next")).only  # the protocol is still in step
            assert again.output == "next\n"
        else:
            result = await host.oneshot(PRINT_3MB, timeout=60, output_limit=7000,
                                        sink=seen.extend)
        assert result.status is Status.Success and result.retcode == 0
        head, _, tail = result.output.partition("[runbook: ")
        assert head == "".join(LINES[:1000])
        assert tail.partition("]\n")[2] == "".join(LINES[-1000:])
        assert f"{len(FULL) - 14000} bytes of output left out here, {len(FULL)} in all" in tail

    on_host(host_factory, scenario)
    assert bytes(seen) == FULL


def test_default_limit_applies(host_factory: HostFactory) -> None:
    async def scenario(host: Host) -> None:
        result = (await host.run(PRINT_3MB, timeout=60)).only
        assert len(result.output) < 2 * DEFAULT_OUTPUT_LIMIT + 200
        assert result.output.startswith("000000\n")
        assert result.output.endswith("428570\n")
        small = (await host.run("seq 1 3")).only
        assert small.output == "1\n2\n3\n"

    on_host(host_factory, scenario)


def test_a_character_split_between_head_and_tail_stays_whole() -> None:
    out = BoundedOutput(4)
    out.write("abc\u00e9xyz".encode())  # é's two bytes fall one in the head, one in the tail
    assert out.omitted == 0
    assert out.text() == "abc\u00e9xyz"
