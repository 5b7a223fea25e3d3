"""Certificates in PostgreSQL: the chain in clear, the private key sealed, found by name.

`save` checks what it stores (the key matches the leaf, the leaf covers every
name) and reads serial and validity from the leaf itself, so a bad issuer
cannot put an unservable certificate in the table. The key is sealed with
purpose "certificate:<id>", so a sealed key copied to another row does not
open.

`latest_for_name` is the handshake's storage fallback: the SNI name comes
before any tenant is known, so it looks a name up across tenants (like the
host index does) unless the caller already knows the tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs.errors import InvalidCertificate, KeyUnavailable
from certs.keys import load_private_key_pem, normalise_names
from kernel import clock
from kernel.db import Db
from kernel.ids import new_id
from kernel.sealing import Sealer, SealingError

ISSUERS = ("acme", "internal")
# A name written in a transaction that began this long before the last look is still caught.
CHANGE_MARGIN = "10 minutes"
_SUMMARY_COLUMNS = (
    "id, tenant_id, domain_id, names, issuer, issuer_detail, serial, not_before, not_after"
)


@dataclass(frozen=True)
class CertificateSummary:
    """A stored certificate without its key: what renewal and listings need."""

    id: str
    tenant_id: int | None
    domain_id: str | None
    names: list[str]
    issuer: str
    issuer_detail: str
    serial: str
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True)
class CertificateChanges:
    """What changed in the certificates table since a look at `since` (see `changes_since`).

    `checked_at` is the next look's `since`; `total` counts every row now, so a
    caller seeing it shrink knows certificates were deleted.
    """

    checked_at: datetime
    total: int
    names: list[str]


@dataclass(frozen=True)
class StoredCertificate(CertificateSummary):
    """A stored certificate ready to serve: the chain and the clear key PEM (memory only)."""

    chain_pem: str
    key_pem: bytes = field(repr=False)  # never in logs


def key_purpose(certificate_id: str) -> str:
    return f"certificate:{certificate_id}"


class CertificateStore:
    """Reads and writes table certificates; holds no state of its own."""

    async def save(
        self,
        db: Db,
        sealer: Sealer,
        *,
        tenant_id: int | None,
        domain_id: str | None,
        names: list[str],
        issuer: str,
        chain_pem: str,
        key_pem: bytes,
        issuer_detail: str = "",
    ) -> str:
        """Store a certificate; returns its id (`crt_...`).

        Raises InvalidCertificate when the chain does not parse, the key does not
        match the leaf, or the leaf's SAN lacks one of `names`;
        InvalidCertificateNames when `names` are not issuable DNS names.
        """
        if issuer not in ISSUERS:
            raise InvalidCertificate(f"issuer must be one of {', '.join(ISSUERS)}")
        checked = normalise_names(names)
        leaf = _leaf(chain_pem)
        _check_key_matches(leaf, key_pem)
        covered = _san_names(leaf)
        missing = [name for name in checked if name not in covered]
        if missing:
            raise InvalidCertificate(f"the certificate does not cover {', '.join(missing)}")
        certificate_id = new_id("crt")
        await db.execute(
            """
            INSERT INTO certificates (id, tenant_id, domain_id, names, issuer, issuer_detail,
                                      serial, not_before, not_after, chain_pem, key_sealed)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            """,
            certificate_id,
            tenant_id,
            domain_id,
            checked,
            issuer,
            issuer_detail,
            format(leaf.serial_number, "x"),
            leaf.not_valid_before_utc,
            leaf.not_valid_after_utc,
            chain_pem,
            sealer.seal(key_pem, key_purpose(certificate_id)),
        )
        return certificate_id

    async def latest_for_name(
        self,
        db: Db,
        sealer: Sealer,
        name: str,
        *,
        tenant_id: int | None = None,
        now: datetime | None = None,
    ) -> StoredCertificate | None:
        """The certificate expiring last among those covering `name` and not expired.

        With `tenant_id`, only that tenant's certificates. Raises KeyUnavailable
        when its key does not open with `sealer`.
        """
        now = now or clock.utc_now()
        tenant_filter = "" if tenant_id is None else "AND tenant_id = $3"
        arguments: list[Any] = [name.lower(), now]
        if tenant_id is not None:
            arguments.append(tenant_id)
        row = await db.fetchrow(
            f"""
            SELECT {_SUMMARY_COLUMNS}, chain_pem, key_sealed
            FROM certificates
            WHERE names @> ARRAY[$1::text] AND not_after > $2 {tenant_filter}
            ORDER BY not_after DESC, created_at DESC
            LIMIT 1
            """,
            *arguments,
        )
        if row is None:
            return None
        try:
            key_pem = sealer.open(bytes(row["key_sealed"]), key_purpose(row["id"]))
        except SealingError:
            raise KeyUnavailable(f"certificate {row['id']}") from None
        return StoredCertificate(
            **_summary_fields(row), chain_pem=row["chain_pem"], key_pem=key_pem
        )

    async def changes_since(self, db: Db, since: datetime | None) -> CertificateChanges:
        """Names of certificates written since `since` (none when it is None), by the database's
        clock, with a margin for transactions that began before the last look."""
        row = await db.fetchrow(
            f"""
            SELECT clock_timestamp() AS checked_at,
                   (SELECT count(*) FROM certificates) AS total,
                   ARRAY(SELECT DISTINCT unnest(names) FROM certificates
                         WHERE $1::timestamptz IS NOT NULL
                           AND created_at > $1::timestamptz - interval '{CHANGE_MARGIN}'
                   ) AS names
            """,
            since,
        )
        assert row is not None
        return CertificateChanges(
            checked_at=row["checked_at"], total=row["total"], names=list(row["names"])
        )

    async def newest_of_domains(
        self, db: Db, *, tenant_id: int, domain_ids: Sequence[str]
    ) -> dict[str, CertificateSummary]:
        """The newest certificate of each of the tenant's `domain_ids` that has one, by its id."""
        rows = await db.fetch(
            f"""
            SELECT DISTINCT ON (domain_id) {_SUMMARY_COLUMNS}
            FROM certificates
            WHERE tenant_id = $1 AND domain_id = ANY($2::text[])
            ORDER BY domain_id, not_after DESC, created_at DESC
            """,
            tenant_id,
            list(domain_ids),
        )
        return {row["domain_id"]: CertificateSummary(**_summary_fields(row)) for row in rows}

    async def due_for_renewal(
        self, db: Db, *, before: datetime, limit: int = 1000
    ) -> list[CertificateSummary]:
        """Certificates to renew: the newest one of each domain (or name set, for vendor hosts)
        when it expires before `before`, soonest first. An older certificate already
        superseded by a renewal is never listed."""
        rows = await db.fetch(
            f"""
            SELECT {_SUMMARY_COLUMNS}
            FROM (
                SELECT DISTINCT ON (coalesce(domain_id, array_to_string(names, ' ')))
                       {_SUMMARY_COLUMNS}
                FROM certificates
                ORDER BY coalesce(domain_id, array_to_string(names, ' ')),
                         not_after DESC, created_at DESC
            ) newest
            WHERE not_after < $1
            ORDER BY not_after
            LIMIT $2
            """,
            before,
            limit,
        )
        return [CertificateSummary(**_summary_fields(row)) for row in rows]


def _summary_fields(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "tenant_id": row["tenant_id"],
        "domain_id": row["domain_id"],
        "names": list(row["names"]),
        "issuer": row["issuer"],
        "issuer_detail": row["issuer_detail"],
        "serial": row["serial"],
        "not_before": row["not_before"],
        "not_after": row["not_after"],
    }


def _leaf(chain_pem: str) -> x509.Certificate:
    try:
        chain = x509.load_pem_x509_certificates(chain_pem.encode("ascii"))
    except ValueError as error:
        raise InvalidCertificate(f"the chain does not parse: {error}") from None
    return chain[0]


def _check_key_matches(leaf: x509.Certificate, key_pem: bytes) -> None:
    try:
        key = load_private_key_pem(key_pem)
    except (ValueError, TypeError):
        raise InvalidCertificate("the private key is not a clear EC PEM key") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public) != (
        leaf.public_key().public_bytes(serialization.Encoding.DER, public)
    ):
        raise InvalidCertificate("the private key does not match the certificate")


def _san_names(leaf: x509.Certificate) -> set[str]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {name.lower() for name in san.get_values_for_type(x509.DNSName)}
