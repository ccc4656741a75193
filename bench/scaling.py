"""Scaling curve: wall time, CPU and peak RSS of `runbook apply` (and the floor) against hosts.

    python bench/scaling.py [--hosts 100,250,500,1000,2000] [--repeat 1]
                            [--out docs/scaling] [--plot-python PYTHON]

Runs the fan-out job of bench/fanout.py (same lab, same arms: runbook apply and the plain
asyncssh floor, alternating) at each host count, prints a Markdown table and writes
OUT.json and OUT.png (time and RSS against hosts; matplotlib comes with the `bench` extra, or
give a Python that has it with --plot-python). Raises the soft open-files limit to the hard
one first, as `runbook apply` does.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.fanout import bench, raise_open_files_limit  # noqa: E402
from bench.fanout import make_parser as fanout_parser  # noqa: E402
from tests.sshlab import SshdLab  # noqa: E402


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table docs/performance.md shows."""
    lines = ["| hosts | `runbook apply` | floor | wall ratio | CPU apply | CPU floor | CPU ratio "
             "| peak RSS apply | peak RSS floor |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        a = r["runbook"]
        if "floor" not in r:
            lines.append(f"| {r['n']} | {a['wall']:.2f} s | failed | | {a['cpu']:.2f} s | | "
                         f"| {a['rss']:.0f} MB | |")
            continue
        b = r["floor"]
        lines.append(f"| {r['n']} | {a['wall']:.2f} s | {b['wall']:.2f} s | {r['ratio']:.2f} "
                     f"| {a['cpu']:.2f} s | {b['cpu']:.2f} s | {r['cpu_ratio']:.2f} "
                     f"| {a['rss']:.0f} MB | {b['rss']:.0f} MB |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], png: Path) -> None:
    """Two panels: wall time and peak RSS against hosts, runbook and the floor."""
    try:
        import matplotlib
    except ImportError:
        sys.exit(f"no plot: this Python has no matplotlib (`pip install -e '.[bench]'`, or "
                 f"--plot-python PYTHON); the numbers are in {png.with_suffix('.json')}")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for arm, label in (("runbook", "runbook apply"), ("floor", "plain asyncssh (floor)")):
        done = [r for r in rows if arm in r]
        left.plot([r["n"] for r in done], [r[arm]["wall"] for r in done], marker="o", label=label)
        right.plot([r["n"] for r in done], [r[arm]["rss"] for r in done], marker="o",
                   label=label)
    left.set(xlabel="hosts", ylabel="wall time (s)", title="fan-out job: wall time")
    right.set(xlabel="hosts", ylabel="peak RSS (MB)", title="client peak RSS")
    right.axhline(250, color="grey", linestyle="--", linewidth=0.8)
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="100,250,500,1000,2000")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "scaling")
    parser.add_argument("--plot-python", default=sys.executable)
    parser.add_argument("--append", action="store_true", help="add rows to an existing OUT.json")
    parser.add_argument("--plot-only", action="store_true", help="plot OUT.json, run nothing")
    args = parser.parse_args()
    data, png = args.out.with_suffix(".json"), args.out.with_suffix(".png")
    if args.plot_only:
        plot(json.loads(data.read_text()), png)
        return
    counts = [int(x) for x in args.hosts.split(",")]
    raise_open_files_limit()
    compileall.compile_dir(str(REPO / "runbook"), quiet=1)
    # lenient: the floor has no retries, and at 2,000 hosts connecting at once sshd may drop
    # a few of its connections; that is recorded as a failed floor, not a failed benchmark.
    # bench/fanout.py's options at their defaults (the two arms only, no peers, no warm
    # re-runs), from its own parser, so that an option added there has its default here too.
    options = fanout_parser().parse_args([])
    options.lenient = True
    rows = json.loads(data.read_text()) if args.append and data.exists() else []
    with tempfile.TemporaryDirectory(prefix="rb-scale-") as tmp:
        work = options.work = Path(tmp)
        (work / "payload.bin").write_bytes(os.urandom(64 * 1024))
        with SshdLab(n_hosts=max(counts), log_level="ERROR") as lab:
            for n in counts:
                rows.append(bench(lab, n, args.repeat, work, options))
                print(f"{n} hosts: runbook {rows[-1]['runbook']}, "
                      f"floor {rows[-1].get('floor', 'failed')}", flush=True)
                data.write_text(json.dumps(rows, indent=1))
    print(table(rows))
    plotted = subprocess.run([args.plot_python, __file__, "--plot-only", "--out", str(args.out)],
                             check=False).returncode == 0
    print(f"wrote {data}" + (f" and {png}" if plotted else ""))


if __name__ == "__main__":
    main()
