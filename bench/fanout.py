"""Fan-out benchmark: `runbook apply` (arm A) against plain asyncssh (arm B, the floor).

    python bench/fanout.py [--hosts 50,200] [--repeat 3] [--peers] [--json FILE] [-- APPLY ARGS]

Starts one loopback OpenSSH lab (tests/sshlab.py) with as many hosts as the largest N, then for
each N runs the same job with every arm, alternating arms `--repeat` times, each arm as a fresh
subprocess (start-up included, as a user would run it). On every host: `run: uname -a`, `put` a
64 KiB file into a per-host folder, `oneshot: md5sum` of it.

Arms: A `runbook apply`; B bench/floor.py, the fastest plain asyncssh script for the job
(known_hosts and key parsed once); with `--peers`, pyinfra and parallel-ssh where installed
(`pip install -e .[bench]`, or any Python given with `--peer-python`; see bench/peers.py);
with `--coalesced-floor`, B again with runbook's write coalescing (`bench/floor.py --coalesce`),
to show what runbook owes to sending fewer packets apart from the rest.

`--warm` adds arm W, warm re-runs: `runbook apply --persist 10m` after one untimed run that
leaves the connections with the keeper (docs/persist.md), so every timed W run reuses them;
its ratio W/B is printed too (budget: <= 0.5 at 200 hosts); W's CPU seconds include the
keeper's. After each W run the benchmark
waits, untimed, until the keeper has started its spare shells (docs/persist.md), so that work
does not slow the next arm; `--no-settle` starts the next arm at once instead.

After every run the benchmark waits, untimed, until the machine's process count is back where
it started (the lab's sshd has torn down the run's sessions), so no arm pays for the one before.
Each runbook arm records its runs in a runs folder of its own per host count, in the
benchmark's temporary folder (`RUNBOOK_RUNS_DIR`), so no run prunes another's.

Prints, per N, the median wall-time ratio A/B (the ratio of the arms' medians), then the
median of the rounds' own ratios (each runbook run against the floor run of the same round, so a
machine that speeds up or slows down between rounds moves both) with its 95 % confidence
interval (distribution-free, from 6 repeats up: if its upper end is under 1.10, the budget is
met beyond this machine's noise), the median CPU ratio A/B (each client process's
own user+system seconds from wait4; sshd's CPU is in neither: less noisy than wall time on a
shared machine), arm A's peak RSS and each arm's medians. `--src DIR` runs arm A from another
checkout, to measure what a change bought. Arm A's source is byte-compiled first, as pip does
on install. Budgets (docs/performance.md): A/B <= 1.10 wall and <= 1.25 CPU.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.peers import peer_arms  # noqa: E402
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
    # -P: without it `python -m` puts the working directory (this checkout) first on sys.path,
    # ahead of PYTHONPATH, and the "other checkout" would silently be this one.
    return [script] if script and src is None else [sys.executable, "-P", "-m", "runbook"]


Arms = dict[str, tuple[list[str], dict[str, str] | None]]


def runs_env(work: Path, name: str, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a runbook arm: its run folders under `work`, one runs folder per arm
    and host count. Left in the checkout's `.runbook/runs`, every run past the 50 kept there
    pruned the oldest, whatever its size: a 50-host run deleting a 1,000-host run's folder
    (1,000 transcripts) paid for it, and runs from earlier benchmarks piled up."""
    return {**os.environ, **extra, "RUNBOOK_RUNS_DIR": str(work / "runs" / name)}


def bench(lab: SshdLab, n: int, repeat: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run every arm `repeat` times, alternating; medians of wall time and CPU per arm."""
    arms = make_arms(lab, n, work, args)
    if "warm" in arms:
        timed(*arms["warm"])  # the cold run that leaves the connections with the keeper
        settle_keeper(work)
    wall, cpu, rss = measure(arms, repeat, args)
    row: dict[str, Any] = {"n": n}
    for name in arms:
        if not wall[name]:
            continue
        row[name] = {"wall": statistics.median(wall[name]), "cpu": statistics.median(cpu[name]),
                     "rss": max(rss[name])}
    if "floor" in row:
        row["ratio"] = row["runbook"]["wall"] / row["floor"]["wall"]
        row["cpu_ratio"] = row["runbook"]["cpu"] / row["floor"]["cpu"]
        paired = sorted(a / b for a, b in zip(wall["runbook"], wall["floor"], strict=True))
        row["paired_ratios"] = paired
        row["paired_ratio"] = statistics.median(paired)
        row["paired_ci"] = median_interval(paired)
    if "floor" in row and "warm" in row:
        row["warm_ratio"] = row["warm"]["wall"] / row["floor"]["wall"]
    return row


def median_interval(ordered: list[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """A distribution-free confidence interval for the median of the sorted sample `ordered`:
    the k-th smallest and k-th largest values, with k the largest count for which the chance
    that fewer than k of n values fall below the true median is at most (1 - confidence) / 2
    (binomial, p = 1/2). None below 6 values, where no such interval reaches 95 %."""
    n = len(ordered)
    tail = (1 - confidence) / 2
    below, k = 0.0, 0
    while k < n // 2 and below + math.comb(n, k) / 2**n <= tail:
        below += math.comb(n, k) / 2**n
        k += 1
    return (ordered[k - 1], ordered[n - k]) if k else None


def make_arms(lab: SshdLab, n: int, work: Path, args: argparse.Namespace) -> Arms:
    """The commands to time for `n` hosts: runbook, the floor, compared checkouts, peers."""
    ids = lab.host_ids[:n]
    lab_file = lab.lab_yaml(work / f"lab{n}.yml", host_ids=ids,
                            extra={"defaults": {"connect_timeout": 60}})
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
    src = {"PYTHONPATH": str(args.src)} if args.src else {}
    env_a = runs_env(work, f"runbook-{n}", src)
    arms: Arms = {
        "runbook": ([*runbook_argv(args.src), "apply", str(job), "--lab", str(lab_file),
                     *args.apply_args], env_a),
        "floor": ([sys.executable, str(REPO / "bench" / "floor.py"), str(floor_json),
                   str(payload)], None),
    }
    if args.warm:
        env_w = {**runs_env(work, f"warm-{n}", src), "RUNBOOK_STATE_DIR": str(work / "state")}
        arms["warm"] = ([*runbook_argv(args.src), "apply", str(job), "--lab", str(lab_file),
                         "--persist", "10m", *args.apply_args], env_w)
    for other in args.compare:
        env = runs_env(work, f"{other.name}-{n}", {"PYTHONPATH": str(other)})
        arms[f"runbook@{other.name}"] = (
            [sys.executable, "-P", "-m", "runbook", "apply", str(job), "--lab", str(lab_file),
             *args.apply_args], env)
    if getattr(args, "coalesced_floor", False):
        arms["floor+coalesce"] = ([*arms["floor"][0], "--coalesce"], None)
    if args.peers:
        for name, argv in peer_arms(args.peer_python, work, floor_json, payload).items():
            arms[name] = (argv, None)
    return arms


def measure(arms: Arms, repeat: int, args: argparse.Namespace
            ) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[float]]]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of each arm's runs, rotating the order."""
    wall: dict[str, list[float]] = {name: [] for name in arms}
    cpu: dict[str, list[float]] = {name: [] for name in arms}
    rss: dict[str, list[float]] = {name: [] for name in arms}
    names = list(arms)
    baseline = process_count()
    for round_ in range(repeat):
        # Rotate the order each round, so no arm always runs first (or after the same one).
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            argv, env = arms[name]
            keeper_before = keeper_cpu(args.work) if name == "warm" else 0.0
            try:
                elapsed, peak, seconds = timed(argv, env)
            except SystemExit as failure:
                if name == "runbook" or (name == "floor" and not getattr(args, "lenient", False)):
                    raise
                print(f"{name} failed, left out of this round: {failure}", file=sys.stderr)
                continue
            if name == "warm":
                if not args.no_settle:
                    settle_keeper(args.work)
                # the keeper works for the run too (and starts the next run's spare shells)
                seconds += keeper_cpu(args.work) - keeper_before
            wall[name].append(elapsed)
            cpu[name].append(seconds)
            rss[name].append(peak)
            settle_hosts(baseline)
    return wall, cpu, rss


def process_count() -> int:
    """Processes on this machine (the lab's hosts are processes here too)."""
    return sum(1 for entry in os.listdir("/proc") if entry.isdigit())


def settle_hosts(baseline: int, slack: int = 8, limit: float = 60.0) -> None:
    """Wait, untimed, until the lab is back to about `baseline` processes: an arm that exits
    without closing its connections (runbook does, after writing its reports) leaves sshd
    tearing down hundreds of sessions, which would slow whichever arm runs next."""
    deadline = time.monotonic() + limit
    while process_count() > baseline + slack and time.monotonic() < deadline:
        time.sleep(0.05)


def print_row(row: dict[str, Any]) -> None:
    """One line per host count: ratios first, then each arm's wall / CPU seconds."""
    arms = [k for k in row if isinstance(row[k], dict)]
    cells = "  ".join(f"{a} {row[a]['wall']:.2f}s/{row[a]['cpu']:.2f}cpu" for a in arms)
    warm = f"  warm W/B {row['warm_ratio']:.2f}" if "warm_ratio" in row else ""
    interval = row["paired_ci"]
    paired = f"{row['paired_ratio']:.2f}" + (f" [{interval[0]:.2f}-{interval[1]:.2f}]"
                                              if interval else " [n<6]")
    print(f"{row['n']:>6} {row['ratio']:>10.2f} {paired:>18} {row['cpu_ratio']:>10.2f} "
          f"{row['runbook']['rss']:>9.0f}  {cells}{warm}", flush=True)


def make_parser() -> argparse.ArgumentParser:
    """The command line; `parse_args([])` gives the options `bench` reads, at their defaults
    (bench/scaling.py runs `bench` that way)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="50,200", help="comma-separated host counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each arm per host count")
    parser.add_argument("--src", type=Path, default=None,
                        help="run arm A from this checkout (PYTHONPATH) to compare versions")
    parser.add_argument("--compare", type=Path, action="append", default=[], metavar="DIR",
                        help="also run runbook from this checkout (repeatable): what a change bought")
    parser.add_argument("--coalesced-floor", action="store_true",
                        help="also run the floor with runbook's write coalescing (bench/floor.py)")
    parser.add_argument("--peers", action="store_true",
                        help="also run pyinfra and parallel-ssh where installed")
    parser.add_argument("--peer-python", default=sys.executable,
                        help="the Python that has pyinfra / parallel-ssh (default: this one)")
    parser.add_argument("--warm", action="store_true",
                        help="also time warm re-runs (apply --persist, connections kept)")
    parser.add_argument("--no-settle", action="store_true",
                        help="with --warm: start the next arm at once, while the keeper still "
                             "starts its spare shells (back-to-back re-runs)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("apply_args", nargs="*", help="extra arguments for runbook apply")
    return parser


def main() -> None:
    args = make_parser().parse_args()
    counts = [int(x) for x in args.hosts.split(",")]
    raise_open_files_limit()
    # An installed runbook has bytecode (pip compiles it); a checkout run with
    # PYTHONDONTWRITEBYTECODE set would recompile ~60 modules per run (~0.25 s) otherwise.
    for source in [args.src or REPO, *args.compare]:
        compileall.compile_dir(str(source / "runbook"), quiet=1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="rb-bench-") as tmp:
        work = Path(tmp)
        args.work = work
        (work / "payload.bin").write_bytes(os.urandom(64 * 1024))
        with SshdLab(n_hosts=max(counts), log_level="ERROR") as lab:
            print(f"{'hosts':>6} {'wall A/B':>10} {'paired [95% CI]':>18} {'CPU A/B':>10} "
                  f"{'RSS A MB':>9}  "
                  "per arm: median wall s / CPU s (A = runbook, B = floor)")
            for n in counts:
                try:
                    row = bench(lab, n, args.repeat, work, args)
                finally:
                    stop_keeper(work, args)
                rows.append(row)
                print_row(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


def settle_keeper(work: Path, limit: float = 60.0) -> None:
    """Wait, untimed, until the keeper has started the spare shells of the run that ended, so
    that this work never overlaps (and slows) the next arm's timed run."""
    from runbook.persist.client import control

    os.environ["RUNBOOK_STATE_DIR"] = str(work / "state")
    deadline = time.monotonic() + limit
    while (status := control("status")) and status.get("warming") and time.monotonic() < deadline:
        time.sleep(0.05)


def keeper_cpu(work: Path) -> float:
    """The keeper's user+system CPU seconds so far (0 when none runs)."""
    from runbook.persist.client import control

    os.environ["RUNBOOK_STATE_DIR"] = str(work / "state")
    status = control("status")
    if status is None:
        return 0.0
    fields = Path(f"/proc/{status['pid']}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_keeper(work: Path, args: argparse.Namespace) -> None:
    """End the warm arm's keeper (its connections belong to this N's lab hosts)."""
    if args.warm:
        env = {**os.environ, "RUNBOOK_STATE_DIR": str(work / "state")}
        if args.src:
            env["PYTHONPATH"] = str(args.src)
        subprocess.run([*runbook_argv(args.src), "persist", "--stop"], env=env, cwd=REPO,
                       check=False, stdout=subprocess.DEVNULL)


def raise_open_files_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: the floor's sockets need it at 1,000+ hosts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


if __name__ == "__main__":
    main()
