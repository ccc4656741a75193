"""Start-up and engine-overhead benchmark: the budgets that need no SSH lab.

    python bench/startup.py [--repeat 9]

Each row is the median wall time of a fresh subprocess, its ratio to the baseline `python -c
pass` and the difference from it, all measured in the same run with the commands interleaved
(what any Python CLI pays before its first line is in the baseline). Budgets (README /
docs/performance.md): `runbook --help` within 40 ms of the baseline, `runbook validate
examples/*.yml` < 300 ms, validating a 1,000-step runbook < 1 s, applying it on the local host
< 10 s. runbook is byte-compiled first, as pip does on install. Also prints which of the heavy
modules each command imported (asyncssh must not be among them for help / validate).
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("asyncssh", "jinja2", "jsonschema", "rich", "yaml", "asyncio")


def median_ms(rows: list[list[str]], repeat: int) -> list[float]:
    """Median wall ms of each argv, the rows interleaved so that load changes hit all alike."""
    times: list[list[float]] = [[] for _ in rows]
    for _ in range(repeat):
        for i, argv in enumerate(rows):
            started = time.perf_counter()
            subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=False)
            times[i].append(time.perf_counter() - started)
    return [statistics.median(t) * 1000 for t in times]


def imported(args: list[str]) -> list[str]:
    """Heavy modules loaded by `runbook ARGS` (run in-process by a small driver)."""
    code = (
        "import sys, json\n"
        "from runbook.cli.main import cli\n"
        f"try: cli({args!r}, standalone_mode=False)\n"
        "except SystemExit: pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=False)
    lines = out.stdout.strip().splitlines()
    return list(json.loads(lines[-1])) if lines else ["?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    compileall.compile_dir(str(REPO / "runbook"), quiet=1)
    runbook = [sys.executable, "-m", "runbook"]
    examples = sorted(str(p) for p in (REPO / "examples").glob("*.yml"))
    with tempfile.TemporaryDirectory() as tmp:
        thousand = Path(tmp) / "thousand.yml"
        thousand.write_text("name: 1000 run steps\nsteps:\n" + "".join(
            f"  - {{name: step {i}, hosts: local, run: 'true'}}\n" for i in range(1000)))
        # (name, argv, cli args for the import check, budget text, budget ms over baseline?)
        rows: list[tuple[str, list[str], list[str] | None, str]] = [
            ("python -c pass (baseline)", [sys.executable, "-c", "pass"], None, ""),
            ("runbook --help", [*runbook, "--help"], ["--help"], "baseline + 40"),
            ("runbook validate examples/*.yml", [*runbook, "validate", *examples],
             ["validate", *examples], "300"),
            ("runbook validate: 1,000 steps", [*runbook, "validate", str(thousand)], None,
             "1000"),
        ]
        fast = median_ms([argv for _, argv, _, _ in rows], args.repeat)
        slow = median_ms([[*runbook, "apply", str(thousand)]], max(3, args.repeat // 3))
        rows.append(("runbook apply: 1,000 run steps on local", [], None, "10000"))
        baseline = fast[0]
        print(f"{'command':<42} {'median ms':>10} {'- baseline':>11} {'x baseline':>11} "
              f"{'budget ms':>14}  heavy imports")
        for (name, _, cli_args, budget), ms in zip(rows, [*fast, *slow], strict=True):
            heavy = ", ".join(imported(cli_args)) if cli_args else ""
            print(f"{name:<42} {ms:>10.0f} {ms - baseline:>11.0f} {ms / baseline:>11.2f} "
                  f"{budget:>14}  {heavy}")


if __name__ == "__main__":
    main()
