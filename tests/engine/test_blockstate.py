"""Per-host block bookkeeping: entering, failing, rescue, always, leaving, cleanup mode."""

from __future__ import annotations

from runbook.engine.blockstate import BlockTracker
from runbook.model import Block, BlockPhase, Location, RunAction, Step

HERE = Location("b.yml", 1)


def step(index: int, *blocks: tuple[int, BlockPhase]) -> Step:
    return Step(index, f"s{index}", (".",), RunAction(("true",)), HERE, blocks=blocks)


def tracker() -> BlockTracker:
    # block 0: steps 0-3 (block 0..1, rescue 2, always 3); inner block 1 at step 1 (no rescue)
    outer = Block(0, "outer", HERE, (), first=0, last=3, has_rescue=True)
    inner = Block(1, "inner", HERE, (), first=1, last=1, parent=(0, "block"))
    return BlockTracker([outer, inner])


STEPS = [step(0, (0, "block")), step(1, (0, "block"), (1, "block")), step(2, (0, "rescue")),
         step(3, (0, "always"))]


def test_failure_skips_the_block_runs_rescue_then_always_and_recovers() -> None:
    blocks = tracker()
    assert blocks.skip_reason(STEPS[0], "h1") is None  # enters
    assert blocks.fail(STEPS[0], "h1", "exit status 1") is False  # outer has a rescue
    assert blocks.failure_of("h1", STEPS[2]) == ("s0", "exit status 1")
    assert blocks.skip_reason(STEPS[1], "h1") == "skipped: failed in block 'outer'"
    assert blocks.leave(1) == []
    assert blocks.skip_reason(STEPS[2], "h1") is None
    assert blocks.skip_reason(STEPS[2], "h2") == "skipped: did not enter block 'outer'"
    assert blocks.skip_reason(STEPS[3], "h1") is None
    assert blocks.leave(3) == []
    assert blocks.rescued_hosts() == {"h1": 1}
    assert "h1" not in blocks.dropped


def test_inner_failure_moves_out_and_a_failed_rescue_drops_the_host() -> None:
    blocks = tracker()
    for host in ("h1", "h2"):
        assert blocks.skip_reason(STEPS[0], host) is None
        assert blocks.skip_reason(STEPS[1], host) is None
    assert blocks.fail(STEPS[1], "h1", "boom") is True  # inner block has no rescue
    assert blocks.leave(1) == []  # moved out: h1 is now failed in the outer block
    assert blocks.skip_reason(STEPS[2], "h1") is None
    assert blocks.skip_reason(STEPS[2], "h2") == "skipped: nothing to rescue"
    blocks.fail(STEPS[2], "h1", "rescue failed too")
    assert blocks.skip_reason(STEPS[3], "h1") is None  # always runs anyway
    assert blocks.leave(3) == ["h1"]
    assert blocks.dropped["h1"].startswith("failed in block 'outer'")


def test_cleanup_mode_runs_only_always_steps_of_entered_blocks() -> None:
    blocks = tracker()
    assert blocks.skip_reason(STEPS[0], "h1") is None
    assert blocks.skip_reason(STEPS[1], "h1", cleanup=True) == "not run"
    assert blocks.skip_reason(STEPS[2], "h1", cleanup=True) == "not run"
    assert blocks.skip_reason(STEPS[3], "h1", cleanup=True) is None
    assert blocks.skip_reason(STEPS[3], "h2", cleanup=True) == "not run"  # never entered


def test_restore_puts_a_restarted_host_back_inside_its_blocks() -> None:
    blocks = tracker()
    top = step(4)
    # restarting in the rescue after an inner failure: failed in the outer block, so rescue
    # runs, failed_step is known, and always runs
    assert blocks.restore("h1", STEPS[2], [(STEPS[1], "boom")]) is None
    assert blocks.failure_of("h1", STEPS[2]) == ("s1", "boom")
    assert blocks.skip_reason(STEPS[2], "h1") is None
    # restarting at a block step with nothing failed: entered, nothing to rescue
    assert blocks.restore("h2", STEPS[1], []) is None
    assert blocks.skip_reason(STEPS[2], "h2") == "skipped: nothing to rescue"
    assert blocks.skip_reason(STEPS[3], "h2") is None
    blocks.leave(3)
    assert blocks.rescued_hosts() == {"h1": 1}
    # a failure outside the blocks around the start had put the host out of the run
    assert blocks.restore("h3", top, [(STEPS[0], "boom")]) == "failed in step 's0'"
    assert blocks.restore("h4", STEPS[3], [(STEPS[0], "a"), (STEPS[2], "x")]) is None
    assert blocks.leave(3) == ["h4"]  # its rescue had failed: out of the run after always
