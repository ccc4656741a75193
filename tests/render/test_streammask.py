"""StreamMasker: a secret is masked however the output is cut into chunks."""

from __future__ import annotations

import random

import pytest

from runbook.render.secrets import SecretStore
from runbook.render.streammask import StreamMasker


def store(*values: str) -> SecretStore:
    secrets = SecretStore(environ={f"RUNBOOK_SECRET_S{i}": v for i, v in enumerate(values)})
    for i in range(len(values)):
        secrets.get(f"S{i}")
    return secrets


def masked_in_chunks(secrets: SecretStore, data: bytes, sizes: list[int]) -> str:
    masker = StreamMasker(secrets.mask, lambda: secrets.values)
    out, at = [], 0
    for size in sizes:
        out.append(masker.feed(data[at:at + size]))
        at += size
    out.append(masker.feed(data[at:]))
    out.append(masker.flush())
    return "".join(out)


@pytest.mark.parametrize("seed", range(20))
def test_a_secret_split_anywhere_is_masked(seed: int) -> None:
    secrets = store("hunter2-long-secret", "abc")
    text = "pw=hunter2-long-secret; short=abc; ABC, Hunter2-LONG-secret\n" * 3 + "tail"
    data = text.encode()
    rng = random.Random(seed)
    sizes = [rng.randint(1, 7) for _ in range(len(data) // 3)]
    assert masked_in_chunks(secrets, data, sizes) == secrets.mask(text)


def test_every_byte_alone_and_a_multibyte_character_split() -> None:
    secrets = store("sécret")
    text = "x sécret y ü\n"
    data = text.encode()
    assert masked_in_chunks(secrets, data, [1] * len(data)) == "x *** y ü\n"


def test_without_secrets_everything_passes_at_once() -> None:
    secrets = store()
    masker = StreamMasker(secrets.mask, lambda: secrets.values)
    assert masker.feed(b"all of it") == "all of it"
    assert masker.flush() == ""


def test_text_that_only_starts_like_a_secret_is_held_back_until_known() -> None:
    secrets = store("topsecret")
    masker = StreamMasker(secrets.mask, lambda: secrets.values)
    first = masker.feed(b"value: tops")
    assert "tops" not in first
    assert first + masker.feed(b"ecret!\n") + masker.flush() == "value: ***!\n"
