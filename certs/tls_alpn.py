"""TLS-ALPN-01 validation certificates (RFC 8737), built with `cryptography`.

The CA's validator connects with SNI set to the name and ALPN offering exactly
"acme-tls/1"; the server answers with a self-signed certificate whose only
SAN is that name and whose critical acmeIdentifier extension
(1.3.6.1.5.5.7.1.31) holds a DER OCTET STRING of SHA-256 of the key
authorization (RFC 8737 section 3). The `acme` library dropped its helper in
5.0, and that helper used a draft OID that current CAs refuse.

`challenge_certificate` is CPU only; the TLS-ALPN-01 responder builds an SSL
context from its PEMs with `gateway.tls.policy.acme_tls_alpn_context`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID, ObjectIdentifier

from certs.keys import encrypt_private_key_pem, generate_private_key, private_key_pem
from kernel import clock

ACME_IDENTIFIER_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")  # RFC 8737 section 6.1
VALIDITY = timedelta(days=7)
BACKDATE = timedelta(minutes=5)  # absorbs clock skew with the validator


@dataclass(frozen=True)
class ChallengeCertificate:
    """A validation certificate and its key (clear PKCS#8 PEM, memory only)."""

    name: str
    certificate_pem: str
    key_pem: bytes = field(repr=False)

    def encrypted_key_pem(self, password: bytes) -> bytes:
        """The key as encrypted PKCS#8 PEM under `password`, as the context loader wants it."""
        return encrypt_private_key_pem(self.key_pem, password)


def acme_identifier_value(key_authorization: str) -> bytes:
    """The DER OCTET STRING carried by the acmeIdentifier extension."""
    digest = hashlib.sha256(key_authorization.encode("ascii")).digest()
    return b"\x04" + bytes([len(digest)]) + digest  # OCTET STRING (SIZE (32)), short-form length


def challenge_certificate(
    name: str, key_authorization: str, *, now: datetime | None = None
) -> ChallengeCertificate:
    """A self-signed RFC 8737 certificate for `name` proving `key_authorization`."""
    now = now or clock.utc_now()
    name = name.lower().rstrip(".")
    key = generate_private_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ACME TLS-ALPN-01 challenge")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        # RFC 8737 section 3: exactly one dNSName, the name being validated.
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(
                ACME_IDENTIFIER_OID, acme_identifier_value(key_authorization)
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return ChallengeCertificate(
        name=name,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        key_pem=private_key_pem(key),
    )
