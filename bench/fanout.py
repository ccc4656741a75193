"""Fan-out benchmark: `runbook apply` (arm A) against plain asyncssh (arm B, the floor).

    python bench/fanout.py [--hosts 50,200,500] [--repeat 3]

CPU A / CPU B are the client processes' own user+system seconds (sshd's CPU is not in
them): less noisy than wall time on a shared machine. `--src DIR` runs arm A from another
checkout, to measure what a change bought.

Starts one loopback OpenSSH lab (tests/sshlab.py) with as many hosts as the largest N, then for
each N runs the same job both ways, alternating A and B `--repeat` times, each arm as a fresh
subprocess (start-up included, as a user would run it). On every host: `run: uname -a`, `put` a
64 KiB file into a per-host folder, `oneshot: md5sum` of it. Prints medians, the ratio A/B and
the peak RSS of arm A. Budgets (README): A/B <= 1.25 and RSS < 200 MB at N = 500.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.sshlab import SshdLab  # noqa: E402

JOB = """\
name: fan-out benchmark
steps:
  - name: uname
    hosts: "^h"
    run: uname -a
  - name: upload
    hosts: "^h"
    put: {{src: {payload}, dest: "{dest}/{{{{ host.id }}}}"}}
  - name: checksum
    hosts: "^h"
    oneshot: "md5sum {dest}/{{{{ host.id }}}}/payload.bin"
"""


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Run `argv`; return (wall s, peak RSS MB, CPU s user+system). Exit status must be 0."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO,
                            env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[:4]} failed ({status}):\n{stderr[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def runbook_argv(src: Path | None) -> list[str]:
    """The `runbook` command as a user runs it, or `python -m runbook` from another checkout."""
    script = shutil.which("runbook")
    return [script] if script and src is None else [sys.executable, "-m", "runbook"]


def bench(lab: SshdLab, n: int, repeat: int, work: Path, src: Path | None) -> dict[str, float]:
    ids = lab.host_ids[:n]
    lab_file = lab.lab_yaml(work / f"lab{n}.yml", host_ids=ids, extra={"defaults": {"connect_timeout": 60}})
    payload = work / "payload.bin"
    dest = work / "remote" / f"n{n}"
    job = work / f"job{n}.yml"
    job.write_text(JOB.format(payload=payload, dest=dest))
    floor_hosts = [
        {"id": i, "address": a, "port": lab.port, "user": lab.user, "key": str(lab.client_key),
         "known_hosts": str(lab.known_hosts), "dest": str(dest / "floor")}
        for i, a in zip(ids, lab.addresses, strict=False)
    ]
    floor_json = work / f"floor{n}.json"
    floor_json.write_text(json.dumps(floor_hosts))
    arm_a = [*runbook_argv(src), "apply", str(job), "--lab", str(lab_file)]
    env_a = {**os.environ, "PYTHONPATH": str(src)} if src else None
    arm_b = [sys.executable, str(REPO / "bench" / "floor.py"), str(floor_json), str(payload)]
    a_times, b_times, rss, a_cpu, b_cpu = [], [], [], [], []
    for _ in range(repeat):
        elapsed, peak, cpu = timed(arm_a, env_a)
        a_times.append(elapsed)
        rss.append(peak)
        a_cpu.append(cpu)
        elapsed, _, cpu = timed(arm_b)
        b_times.append(elapsed)
        b_cpu.append(cpu)
    a, b = statistics.median(a_times), statistics.median(b_times)
    return {"n": n, "a": a, "b": b, "ratio": a / b, "rss": max(rss),
            "a_cpu": statistics.median(a_cpu), "b_cpu": statistics.median(b_cpu)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="50,200,500", help="comma-separated host counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each arm per host count")
    parser.add_argument("--src", type=Path, default=None,
                        help="run arm A from this checkout (PYTHONPATH) to compare versions")
    args = parser.parse_args()
    counts = [int(x) for x in args.hosts.split(",")]
    with tempfile.TemporaryDirectory(prefix="rb-bench-") as tmp:
        work = Path(tmp)
        (work / "payload.bin").write_bytes(os.urandom(64 * 1024))
        with SshdLab(n_hosts=max(counts), log_level="ERROR") as lab:
            print(f"{'hosts':>6} {'runbook apply (s)':>18} {'asyncssh floor (s)':>19} "
                  f"{'ratio A/B':>10} {'peak RSS A (MB)':>16} {'CPU A (s)':>10} {'CPU B (s)':>10}")
            for n in counts:
                row = bench(lab, n, args.repeat, work, args.src)
                print(f"{n:>6} {row['a']:>18.2f} {row['b']:>19.2f} {row['ratio']:>10.2f} "
                      f"{row['rss']:>16.0f} {row['a_cpu']:>10.2f} {row['b_cpu']:>10.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
