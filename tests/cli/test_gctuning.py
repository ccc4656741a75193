"""tune_gc: start-up objects frozen, young generation collected less often (own process)."""

from __future__ import annotations

import subprocess
import sys


def test_tune_gc_freezes_start_up_objects_and_raises_thresholds() -> None:
    code = (
        "import gc\n"
        "from runbook.cli.gctuning import THRESHOLDS, tune_gc\n"
        "before = gc.get_threshold()\n"
        "tune_gc()\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
        "assert gc.get_threshold() == THRESHOLDS != before, (gc.get_threshold(), before)\n"
        "assert gc.isenabled()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pause_gc_holds_collections_until_tune_gc() -> None:
    code = (
        "import gc\n"
        "from runbook.cli.gctuning import pause_gc, tune_gc\n"
        "pause_gc()\n"
        "assert not gc.isenabled()\n"
        "tune_gc()\n"
        "assert gc.isenabled()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
