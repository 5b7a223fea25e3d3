"""Public identifiers: a prefix and 24 base62 characters (about 142 random bits)."""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 24  # 62**24 is about 2**142.9, above the 128 bits we promise

PREFIXES = frozenset(
    {"cus", "sub", "si", "in", "il", "pm", "pa", "wal", "cs", "dom", "evt", "crt", "key"}
)
_PUBLIC_ID = re.compile(r"^([a-z]{2,3})_[0-9A-Za-z]{22,64}$")


def new_id(prefix: str) -> str:
    """A fresh public id such as `cus_3fJ...`; `prefix` must be one of PREFIXES."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return prefix + "_" + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))


def is_public_id(value: str, prefix: str) -> bool:
    """Whether `value` has the shape of a public id with `prefix` (no database lookup)."""
    match = _PUBLIC_ID.match(value)
    return bool(match) and match is not None and match[1] == prefix
