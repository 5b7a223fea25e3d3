"""Certificate keys and requests: ECDSA P-256 keys, PEM forms, CSRs for a list of names.

Clear private key PEM exists only in memory: it is sealed before it reaches
PostgreSQL (`kernel.sealing`) and encrypted under a one-time password before
it reaches the SSL context loader (`encrypt_private_key_pem`).
"""

from __future__ import annotations

import re
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certs.errors import InvalidCertificateNames

MAX_NAMES = 100  # the public CA's limit of names per certificate
MAX_COMMON_NAME = 64  # RFC 5280 ub-common-name
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def normalise_names(names: list[str]) -> list[str]:
    """DNS names for a certificate: lower-cased, duplicates dropped, order kept.

    Raises InvalidCertificateNames for an empty list, more than MAX_NAMES names,
    wildcards, IP literals, non-ASCII (give IDNA A-labels) or malformed names.
    """
    result: list[str] = []
    for raw in names:
        name = raw.lower()
        if name.endswith("."):
            name = name[:-1]
        if name.startswith("*"):
            raise InvalidCertificateNames(f"{raw!r}: wildcard names are not issued")
        if not name or len(name) > 253:
            raise InvalidCertificateNames(f"{raw!r}: a DNS name has 1 to 253 characters")
        labels = name.split(".")
        if not all(_LABEL.match(label) for label in labels):
            raise InvalidCertificateNames(
                f"{raw!r}: use letters, digits and hyphens in labels of 1 to 63 characters"
                " (IDNA A-labels for other scripts)"
            )
        if labels[-1].isdigit():
            raise InvalidCertificateNames(f"{raw!r}: IP addresses are not issued")
        if name not in result:
            result.append(name)
    if not result:
        raise InvalidCertificateNames("a certificate needs at least one name")
    if len(result) > MAX_NAMES:
        raise InvalidCertificateNames(f"a certificate holds at most {MAX_NAMES} names")
    return result


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 key (CPU only, well under a millisecond)."""
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The clear PKCS#8 PEM of `key`, to seal before storing. Never log or write it."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key_pem(pem: bytes, password: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """The EC key in a PEM (clear, or encrypted under `password`)."""
    key = serialization.load_pem_private_key(pem, password)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the private key is not an elliptic-curve key")
    return key


def new_key_password() -> bytes:
    """A one-time password (256 random bits, printable) for an encrypted key PEM."""
    return secrets.token_urlsafe(32).encode("ascii")


def encrypt_private_key_pem(key_pem: bytes, password: bytes) -> bytes:
    """The key re-encrypted as PKCS#8 PEM under `password`, for `gateway.tls.policy`."""
    key = serialization.load_pem_private_key(key_pem, None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )


def build_csr(key: ec.EllipticCurvePrivateKey, names: list[str]) -> bytes:
    """A PEM certificate signing request for `names` (all in the SAN), signed by `key`.

    The subject's common name is the first name when it fits in 64 characters;
    CAs read the names from the SAN.
    """
    checked = normalise_names(names)
    subject = (
        [x509.NameAttribute(NameOID.COMMON_NAME, checked[0])]
        if len(checked[0]) <= MAX_COMMON_NAME
        else []
    )
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(subject))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in checked]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)
