"""Start-up to the first SSH connection: `runbook apply` against a plain asyncssh script.

    python bench/firstconn.py [--repeat 21] [--compare CHECKOUT ...]

Each arm is a fresh subprocess, the arms interleaved (their order reversed every other round).
A listening socket on 127.0.0.1 stands in for the host: the time from spawning the process to
the first TCP connection it opens is runbook's fixed start-up cost (interpreter, imports,
load, check, compile, run folder, locks) before any SSH work; the connection is then closed,
so the host is unreachable and the process ends. The floor connects with asyncssh (imported
as its first line). Printed: medians of that time, of the whole process, and of its CPU
(user + sys, wait4). `--compare` adds an arm running another checkout's runbook (its
PYTHONPATH), e.g. the commit a change started from. Each checkout is byte-compiled and run
once first, as an installed one would have been.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

FLOOR = """\
import asyncio, sys
import asyncssh
async def main() -> None:
    try:
        async with asyncssh.connect("127.0.0.1", port=int(sys.argv[1]), username="nobody",
                                    known_hosts=None, connect_timeout=5):
            pass
    except (OSError, asyncssh.Error):
        pass
asyncio.run(main())
"""


def write_job(folder: Path, port: int) -> list[str]:
    """The lab (one SSH host: the listener), the one-step runbook; the apply arguments."""
    (folder / "lab.yml").write_text(
        f"name: first connection\nhosts:\n  h1: {{address: 127.0.0.1, port: {port}, "
        "user: nobody, connect_timeout: 5}\n")
    (folder / "job.yml").write_text(
        "name: first connection\nsteps:\n  - {name: one, hosts: h1, run: 'true'}\n")
    return ["-m", "runbook", "apply", "--lab", str(folder / "lab.yml"), str(folder / "job.yml")]


def one_round(argv: list[str], env: dict[str, str], cwd: Path,
              listener: socket.socket) -> tuple[float, float, float]:
    """Spawn `argv`; ms to its first connection, ms to its exit, its CPU ms."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    conn, _ = listener.accept()
    connected = time.perf_counter()
    conn.close()
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0  # reaped above
    ended = time.perf_counter()
    listener.settimeout(0)
    with contextlib.suppress(BlockingIOError):
        while True:  # connections it retried, if any
            listener.accept()[0].close()
    listener.settimeout(30)
    return ((connected - started) * 1000, (ended - started) * 1000,
            (usage.ru_utime + usage.ru_stime) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--compare", action="append", default=[], type=Path,
                        metavar="CHECKOUT", help="another checkout's runbook as an extra arm")
    args = parser.parse_args()
    checkouts = [REPO, *(p.resolve() for p in args.compare)]
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(30)
        port = listener.getsockname()[1]
        apply = write_job(Path(tmp), port)
        (Path(tmp) / "floor.py").write_text(FLOOR)
        base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        arms = [("floor (asyncssh)", [sys.executable, str(Path(tmp) / "floor.py"), str(port)],
                 base_env)]
        for checkout in checkouts:
            compileall.compile_dir(str(checkout / "runbook"), quiet=1)
            env = {**base_env, "PYTHONPATH": str(checkout)}
            arms.append((str(checkout), [sys.executable, *apply], env))
        for _, argv, env in arms:  # warm: byte code and caches written, as once installed
            one_round(argv, env, Path(tmp), listener)
        times: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _, _ in arms}
        for i in range(args.repeat):
            for name, argv, env in arms if i % 2 == 0 else arms[::-1]:
                times[name].append(one_round(argv, env, Path(tmp), listener))
    report(times)


def report(times: dict[str, list[tuple[float, float, float]]]) -> None:
    """One row per arm: medians, and the first connection's distance from the floor's."""
    medians = {name: [statistics.median(r[i] for r in rows) for i in range(3)]
               for name, rows in times.items()}
    floor = next(iter(medians.values()))[0]
    print(f"{'arm':<40} {'first conn ms':>14} {'- floor':>8} {'exit ms':>8} {'CPU ms':>8}")
    for name, (first, ended, cpu) in medians.items():
        print(f"{name:<40} {first:>14.0f} {first - floor:>8.0f} {ended:>8.0f} {cpu:>8.0f}")


if __name__ == "__main__":
    main()
