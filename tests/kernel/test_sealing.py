"""Secrets at rest open only with the same key and for the same purpose."""

from __future__ import annotations

import os

import pytest

from kernel.sealing import Sealer, SealingError


def test_a_sealed_secret_opens_with_its_key_and_purpose() -> None:
    sealer = Sealer(os.urandom(32))
    sealed = sealer.seal(b"sk_live_secret", "tenant:1:stripe_secret_key")
    assert b"sk_live_secret" not in sealed
    assert sealer.open(sealed, "tenant:1:stripe_secret_key") == b"sk_live_secret"


def test_sealing_twice_gives_different_bytes() -> None:
    sealer = Sealer(os.urandom(32))
    assert sealer.seal(b"x", "p") != sealer.seal(b"x", "p")


@pytest.mark.parametrize(
    ("purpose", "key_changes", "tamper"),
    [
        ("tenant:2:stripe_secret_key", False, False),  # copied into another tenant's row
        ("tenant:1:stripe_secret_key", True, False),  # another KEK
        ("tenant:1:stripe_secret_key", False, True),  # a flipped bit
    ],
)
def test_a_sealed_secret_refuses_to_open_elsewhere(
    purpose: str, key_changes: bool, tamper: bool
) -> None:
    kek = os.urandom(32)
    sealed = bytearray(Sealer(kek).seal(b"secret", "tenant:1:stripe_secret_key"))
    if tamper:
        sealed[-1] ^= 1
    opener = Sealer(os.urandom(32) if key_changes else kek)
    with pytest.raises(SealingError):
        opener.open(bytes(sealed), purpose)
