"""The internal CA: a local root, stored sealed in PostgreSQL, that issues at once (offline, demo).

Every replica shares one root: `load_or_create` reads the row in table
internal_ca, or creates it under a transaction-level advisory lock so that
concurrent first starts create exactly one. The root key is sealed with
purpose "internal_ca:root" and only ever opened in memory.

Certificates follow what browsers and OpenSSL's strict verification expect of
a public CA (RFC 5280; CA/Browser Forum baseline requirements): ECDSA P-256
with SHA-256, a critical basicConstraints, key usages, subject and authority
key identifiers, the names in the SAN and serverAuth in extendedKeyUsage.
A client trusts the leaves once it trusts `root_pem`.

The root carries a critical NameConstraints extension (RFC 5280 4.2.1.10):
it vouches only for the configured DNS names and their subdomains (the base
domain and localhost, plus any development suffixes), and for no IP address,
as the CA/Browser Forum asks of a technically constrained CA (baseline
requirements 7.1.2.5.2). A leaked development root then cannot impersonate any
other site: clients that verify the chain refuse such a leaf. `issue` refuses
those names up front with NameOutsideInternalCA.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.errors import KeyUnavailable, NameOutsideInternalCA
from certs.keys import (
    MAX_COMMON_NAME,
    generate_private_key,
    load_private_key_pem,
    normalise_names,
    private_key_pem,
)
from kernel import clock
from kernel.db import Connection, Db
from kernel.sealing import Sealer, SealingError

ROOT_PURPOSE = "internal_ca:root"
# At most two years for the root (issue 13): a root people import into trust stores must
# not outlive the installation; it rotates (below) before it stops covering a whole leaf.
ROOT_VALIDITY = timedelta(days=730)
# Three months, as a public CA's leaves.
LEAF_VALIDITY = timedelta(days=90)
# A TLS server leaf signs handshakes (ECDSA) and does nothing else (RFC 5280 4.2.1.3).
LEAF_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
# Backdating absorbs clock skew between the gateway and its clients.
BACKDATE = timedelta(minutes=5)
# pg_advisory_xact_lock key: the first 8 bytes of sha256("gateway:internal_ca") as a signed bigint.
CREATE_LOCK = int.from_bytes(
    hashlib.sha256(b"gateway:internal_ca").digest()[:8], "big", signed=True
)
# Every IPv4 and IPv6 address, excluded from the root's name constraints: the CA issues for
# DNS names only, and a root without an IP subtree would otherwise vouch for any address.
EXCLUDED_ADDRESSES = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def permitted_subtrees(names: Iterable[str]) -> tuple[str, ...]:
    """The DNS names a root is limited to, in the one form stored in its certificate:
    lower case, no trailing dot, sorted, without duplicates."""
    return tuple(sorted({name.lower().rstrip(".") for name in names}))


def name_constraints(names: Iterable[str]) -> x509.NameConstraints:
    """The NameConstraints value of a root limited to `names` and their subdomains."""
    return x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(name) for name in permitted_subtrees(names)],
        excluded_subtrees=[x509.IPAddress(network) for network in EXCLUDED_ADDRESSES],
    )


def _constraints_of(certificate: x509.Certificate) -> x509.NameConstraints | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None


@dataclass(frozen=True)
class IssuedCertificate:
    """A freshly issued certificate: `chain_pem` is leaf then issuer(s), `key_pem` the clear
    PKCS#8 key (seal it before storing). Times are UTC; `serial` is lower-case hex."""

    names: list[str]
    chain_pem: str
    key_pem: bytes = field(repr=False)  # never in logs
    serial: str
    not_before: datetime
    not_after: datetime


class InternalCA:
    """Issues leaf certificates under one local root; CPU only, no I/O after loading."""

    def __init__(self, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        constraints = _constraints_of(certificate)
        if constraints is None or not constraints.permitted_subtrees:
            raise ValueError("the internal CA root must carry permitted name constraints")
        self._permitted = tuple(
            str(subtree.value)
            for subtree in constraints.permitted_subtrees
            if isinstance(subtree, x509.DNSName)
        )
        self._certificate = certificate
        self._key = key
        self._root_pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        self._key_identifier = x509.SubjectKeyIdentifier.from_public_key(key.public_key())

    @classmethod
    async def load_or_create(
        cls, db: Db, sealer: Sealer, *, permitted_names: Iterable[str]
    ) -> InternalCA:
        """The stored root limited to `permitted_names`, or a new one stored now.

        Safe when several processes start at once. Raises KeyUnavailable when the
        stored root key does not open with `sealer`.
        """
        permitted = permitted_subtrees(permitted_names)
        if isinstance(db, asyncpg.Pool):
            async with db.acquire() as connection:
                return await cls._load_or_create(connection, sealer, permitted)
        return await cls._load_or_create(db, sealer, permitted)

    @classmethod
    async def _load_or_create(
        cls, connection: Connection, sealer: Sealer, permitted: tuple[str, ...]
    ) -> InternalCA:
        async with connection.transaction():
            # Serialises concurrent creators; released at commit.
            await connection.execute("SELECT pg_advisory_xact_lock($1)", CREATE_LOCK)
            # The newest root that still covers a whole leaf lifetime and carries exactly the
            # configured name constraints; older ones stay stored (their leaves remain valid
            # until they expire) but issue nothing new. When none fits, a new root is made:
            # rotation (or a changed GATEWAY_INTERNAL_CA_NAMES), after which clients trust
            # the new root.
            wanted = name_constraints(permitted)
            row = None
            for candidate in await connection.fetch(
                "SELECT cert_pem, key_sealed FROM internal_ca ORDER BY id DESC"
            ):
                certificate = x509.load_pem_x509_certificate(candidate["cert_pem"].encode("ascii"))
                if (
                    certificate.not_valid_after_utc > clock.utc_now() + LEAF_VALIDITY
                    and _constraints_of(certificate) == wanted
                ):
                    row = candidate
                    break
            if row is not None:
                try:
                    key_pem = sealer.open(bytes(row["key_sealed"]), ROOT_PURPOSE)
                except SealingError:
                    raise KeyUnavailable("the internal CA root") from None
                certificate = x509.load_pem_x509_certificate(row["cert_pem"].encode("ascii"))
                return cls(certificate, load_private_key_pem(key_pem))
            ca = cls.create(permitted_names=permitted)
            await connection.execute(
                "INSERT INTO internal_ca (cert_pem, key_sealed) VALUES ($1, $2)",
                ca.root_pem,
                sealer.seal(private_key_pem(ca._key), ROOT_PURPOSE),
            )
            return ca

    @classmethod
    def create(cls, *, permitted_names: Iterable[str], now: datetime | None = None) -> InternalCA:
        """A new self-signed root, valid two years (ROOT_VALIDITY), kept in memory only.

        It vouches only for `permitted_names` and their subdomains (a critical
        NameConstraints extension).
        """
        constraints = name_constraints(permitted_names)
        if not constraints.permitted_subtrees:
            raise ValueError("the internal CA needs at least one permitted name")
        now = now or clock.utc_now()
        key = generate_private_key()
        # A random suffix tells apart the roots of different installations in a trust store.
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Billing Edge Gateway"),
                x509.NameAttribute(
                    NameOID.COMMON_NAME,
                    f"Billing Edge Gateway Internal Root {secrets.token_hex(4)}",
                ),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + ROOT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            # RFC 5280 4.2.1.10: name constraints MUST be critical.
            .add_extension(constraints, critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key)

    @property
    def root_pem(self) -> str:
        """The root certificate, to add to a client's trust store."""
        return self._root_pem

    @property
    def permitted_names(self) -> tuple[str, ...]:
        """The DNS names (with their subdomains) the root may vouch for, sorted."""
        return self._permitted

    def permits(self, name: str) -> bool:
        """Whether `name` (normalised, see certs.keys) lies within the root's constraints."""
        return any(name == allowed or name.endswith("." + allowed) for allowed in self._permitted)

    def issue(self, names: list[str], *, now: datetime | None = None) -> IssuedCertificate:
        """A 90-day leaf for `names` (a fresh P-256 key), never outliving the root.

        Raises InvalidCertificateNames for names that cannot be issued, and its
        subclass NameOutsideInternalCA for names outside the root's constraints.
        """
        checked = normalise_names(names)
        outside = [name for name in checked if not self.permits(name)]
        if outside:
            raise NameOutsideInternalCA(outside, self._permitted)
        now = now or clock.utc_now()
        not_before = now - BACKDATE
        not_after = min(now + LEAF_VALIDITY, self._certificate.not_valid_after_utc)
        key = generate_private_key()
        subject = (
            [x509.NameAttribute(NameOID.COMMON_NAME, checked[0])]
            if len(checked[0]) <= MAX_COMMON_NAME
            else []
        )
        serial = x509.random_serial_number()
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(subject))
            .issuer_name(self._certificate.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name) for name in checked]),
                critical=not subject,  # RFC 5280 4.2.1.6: critical when the subject is empty
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(LEAF_KEY_USAGE, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    self._key_identifier
                ),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        leaf_pem = leaf.public_bytes(serialization.Encoding.PEM).decode("ascii")
        return IssuedCertificate(
            names=checked,
            chain_pem=leaf_pem + self._root_pem,
            key_pem=private_key_pem(key),
            serial=format(serial, "x"),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
        )
