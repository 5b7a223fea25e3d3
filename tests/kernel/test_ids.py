"""Public ids carry their prefix and at least 128 random bits."""

from __future__ import annotations

import math

import pytest

from kernel.ids import ALPHABET, RANDOM_LENGTH, is_public_id, new_id


@pytest.mark.parametrize("prefix", ["cus", "sub", "in", "cs", "wal", "pm", "dom", "evt"])
def test_ids_have_the_prefix_and_enough_randomness(prefix: str) -> None:
    ids = {new_id(prefix) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(value.startswith(prefix + "_") and is_public_id(value, prefix) for value in ids)
    assert RANDOM_LENGTH * math.log2(len(ALPHABET)) >= 128


def test_an_unknown_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown id prefix"):
        new_id("xyz")
