"""Did-you-mean hints."""

from runbook._suggest import closest, did_you_mean


def test_swapped_letters_beat_a_longer_similar_word() -> None:
    assert did_you_mean("prot", ["port", "prompt", "user"]) == "did you mean 'port'?"
    assert closest("promtp", ["port", "prompt"]) == "prompt"
    assert closest("xyz", ["port", "prompt"]) is None
