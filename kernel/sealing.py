"""Secrets at rest: AES-256-GCM under the process's key-encryption key (KEK).

The KEK is given to the process (GATEWAY_KEK) and never stored in the
database. Each sealed value carries a version byte and a random 96-bit nonce;
the associated data binds a value to its purpose (for example
"tenant:42:stripe_secret_key"), so a sealed value copied into another row or
column does not open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"
_NONCE_BYTES = 12
_MAX_KEPT_SUBKEYS = 64


class SealingError(Exception):
    """A sealed value could not be opened: wrong key, wrong purpose or tampered bytes."""


class Sealer:
    """Seals and opens small secrets (API keys, private keys) with one KEK."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) != 32:
            raise ValueError("the key-encryption key must be 32 bytes")
        self._aead = AESGCM(kek)
        self._kek = kek
        # Subkeys asked for per request (CSRF tokens) are derived once; a few purposes.
        self._subkeys: dict[str, bytes] = {}

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, purpose.encode())

    def open(self, sealed: bytes, purpose: str) -> bytes:
        if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _VERSION:
            raise SealingError(f"sealed value for {purpose} is malformed")
        nonce = sealed[1 : 1 + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[1 + _NONCE_BYTES :], purpose.encode())
        except InvalidTag:
            raise SealingError(
                f"sealed value for {purpose} does not open with this key-encryption key"
            ) from None

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte subkey for `purpose` (HKDF-SHA256); the KEK itself never leaves."""
        subkey = self._subkeys.get(purpose)
        if subkey is None:
            subkey = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()
            ).derive(self._kek)
            if len(self._subkeys) >= _MAX_KEPT_SUBKEYS:
                self._subkeys.clear()  # per-tenant purposes must not grow without end
            self._subkeys[purpose] = subkey
        return subkey
