"""Big-output benchmark: peak RSS of `runbook apply` when every host prints a lot.

    python bench/bigoutput.py [--hosts 50] [--mb 10] [--repeat 1] [--output-limit SIZE]

Starts a loopback OpenSSH lab (tests/sshlab.py) of N hosts; one step makes each host print M MB
(`yes | head -c`) through its persistent shell. `runbook apply` runs as a fresh subprocess with
a JSON report; prints the wall time, the peak RSS of the runbook process, and the size of the
JSON report. Numbers only, no assertions: the budget (docs/performance.md) is under 200 MB of
RSS for 500 hosts printing 10 MB each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.fanout import timed  # noqa: E402
from tests.sshlab import SshdLab  # noqa: E402

JOB = """\
name: big output benchmark
steps:
  - name: print
    hosts: "^h"
    run: "yes 'runbook big output benchmark line' | head -c {size}"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=50, help="number of sshd hosts (N)")
    parser.add_argument("--mb", type=float, default=10.0, help="MB each host prints (M)")
    parser.add_argument("--repeat", type=int, default=1, help="runs (the highest RSS is shown)")
    parser.add_argument("--output-limit", default=None, help="passed to runbook apply")
    parser.add_argument("--no-report", action="store_true",
                        help="no JSON report (to see what writing it costs)")
    args = parser.parse_args()
    size = int(args.mb * 1_000_000)
    with tempfile.TemporaryDirectory(prefix="rb-bigout-") as tmp:
        work = Path(tmp)
        job = work / "job.yml"
        job.write_text(JOB.format(size=size))
        report = work / "report.json"
        with SshdLab(n_hosts=args.hosts, log_level="ERROR") as lab:
            lab_file = lab.lab_yaml(work / "lab.yml",
                                    extra={"defaults": {"connect_timeout": 60}})
            # `python -m runbook` from this checkout (timed() runs it in the repository)
            # the run folder (transcripts, its reports) is written too; no lab locks: the lab
            # is this benchmark's own, and another benchmark's hosts have the same names
            argv = [sys.executable, "-m", "runbook", "apply", str(job), "--lab", str(lab_file),
                    "--runs-dir", str(work / "runs"), "--no-lock"]
            if not args.no_report:
                argv += ["--report-json", str(report)]
            if args.output_limit is not None:
                argv += ["--output-limit", args.output_limit]
            print(f"{'hosts':>6} {'MB/host':>8} {'wall (s)':>9} {'peak RSS (MB)':>14} "
                  f"{'CPU (s)':>8} {'JSON report (MB)':>17}")
            for _ in range(args.repeat):
                elapsed, peak, cpu = timed(argv)
                report_mb = report.stat().st_size / 1e6 if report.exists() else 0.0
                print(f"{args.hosts:>6} {args.mb:>8g} {elapsed:>9.1f} {peak:>14.0f} {cpu:>8.1f} "
                      f"{report_mb:>17.2f}", flush=True)


if __name__ == "__main__":
    main()
