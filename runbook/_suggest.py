"""Did-you-mean hints for misspelled keys, names and choices.

Every "unknown X" message in runbook ends with the same kind of hint, so it lives here:
`did_you_mean("onshot", ["run", "oneshot"])` -> "did you mean 'oneshot'?".
"""

from __future__ import annotations

from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The candidate most similar to `word` (case-insensitive), or None when nothing is close."""
    import difflib  # only when there is something to suggest: keeps it out of every start-up

    pool = sorted({c for c in candidates if isinstance(c, str)})
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered:
        return lowered[word.lower()]
    # Two swapped letters ("prot" for "port") beat a longer word sharing more letters ("prompt").
    swapped = [c for c in lowered if _one_transposition(word.lower(), c)]
    if swapped:
        return lowered[swapped[0]]
    matches = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[matches[0]] if matches else None


def _one_transposition(word: str, candidate: str) -> bool:
    """True when swapping two neighbouring letters of `word` gives `candidate`."""
    if len(word) != len(candidate):
        return False
    diffs = [i for i, (a, b) in enumerate(zip(word, candidate, strict=True)) if a != b]
    return len(diffs) == 2 and diffs[1] == diffs[0] + 1 \
        and word[diffs[0]] == candidate[diffs[1]] and word[diffs[1]] == candidate[diffs[0]]


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """`"did you mean 'x'?"` for the closest candidate, or None when nothing is close."""
    match = closest(word, candidates)
    return f"did you mean {match!r}?" if match is not None and match != word else None


def one_of(candidates: Iterable[str], *, limit: int = 20) -> str:
    """`"expected one of a, b, c"` (sorted; long lists are cut with an ellipsis)."""
    pool = sorted({str(c) for c in candidates})
    shown = ", ".join(pool[:limit]) + (", ..." if len(pool) > limit else "")
    return f"expected one of {shown}" if pool else "nothing is allowed here"


def hint(word: str, candidates: Iterable[str]) -> str:
    """The did-you-mean hint when something is close, otherwise the list of choices."""
    pool = list(candidates)
    return did_you_mean(word, pool) or one_of(pool)
