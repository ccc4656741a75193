"""Start-up and engine-overhead benchmark: the budgets that need no SSH lab.

    python bench/startup.py [--repeat 9]

Each row is the median wall time of a fresh subprocess, and its ratio to the baseline
`python -c pass` measured in the same run (what any Python CLI pays before its first line).
Budgets (README / docs/performance.md): `runbook --help` < 150 ms, `runbook validate
examples/*.yml` < 400 ms, 1,000 `run` steps on the local host < 10 s. Also prints which of the
heavy modules each command imported (asyncssh must not be among them for help / validate).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("asyncssh", "jinja2", "jsonschema", "rich", "yaml", "asyncio")


def median_ms(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


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
    runbook = [sys.executable, "-m", "runbook"]
    examples = sorted(str(p) for p in (REPO / "examples").glob("*.yml"))
    with tempfile.TemporaryDirectory() as tmp:
        thousand = Path(tmp) / "thousand.yml"
        thousand.write_text("name: 1000 run steps\nsteps:\n" + "".join(
            f"  - {{name: step {i}, hosts: local, run: 'true'}}\n" for i in range(1000)))
        rows = [
            ("python -c pass (baseline)", [sys.executable, "-c", "pass"], None, 1),
            ("runbook --help", [*runbook, "--help"], ["--help"], 150),
            ("runbook validate examples/*.yml", [*runbook, "validate", *examples],
             ["validate", *examples], 400),
            ("runbook apply: 1,000 run steps on local", [*runbook, "apply", str(thousand)], None,
             10_000),
        ]
        baseline = median_ms(rows[0][1], args.repeat)
        print(f"{'command':<42} {'median ms':>10} {'x baseline':>11} {'budget ms':>10}  heavy imports")
        for name, argv, cli_args, budget in rows:
            repeat = args.repeat if "1,000" not in name else max(3, args.repeat // 3)
            ms = baseline if budget == 1 else median_ms(argv, repeat)
            heavy = ", ".join(imported(cli_args)) if cli_args else ""
            budget_text = "" if budget == 1 else f"{budget:>10}"
            print(f"{name:<42} {ms:>10.0f} {ms / baseline:>11.2f} {budget_text:>10}  {heavy}")


if __name__ == "__main__":
    main()
