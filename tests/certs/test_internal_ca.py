"""The internal CA: one shared root per database, leaves that strict verifiers accept."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from certs.errors import InvalidCertificateNames, KeyUnavailable
from certs.internal_ca import InternalCA
from certs.keys import load_private_key_pem, private_key_pem
from gateway.sealing import Sealer


def verify(ca: InternalCA, chain_pem: str, name: str, *, at: datetime | None = None) -> None:
    """Verify like a browser would (webpki rules): raises VerificationError otherwise."""
    leaf, *intermediates = x509.load_pem_x509_certificates(chain_pem.encode())
    root = x509.load_pem_x509_certificate(ca.root_pem.encode())
    verifier = (
        PolicyBuilder()
        .store(Store([root]))
        .time(at or datetime.now(UTC))
        .build_server_verifier(x509.DNSName(name))
    )
    verifier.verify(leaf, intermediates)


def test_leaf_verifies_for_each_of_its_names_and_no_other() -> None:
    ca = InternalCA.create()
    issued = ca.issue(["Billing.Alpeak.test", "www.alpeak.test"])
    assert issued.names == ["billing.alpeak.test", "www.alpeak.test"]
    verify(ca, issued.chain_pem, "billing.alpeak.test")
    verify(ca, issued.chain_pem, "www.alpeak.test")
    with pytest.raises(VerificationError):
        verify(ca, issued.chain_pem, "other.alpeak.test")
    with pytest.raises(VerificationError):
        verify(InternalCA.create(), issued.chain_pem, "billing.alpeak.test")


def test_leaf_lasts_90_days_for_server_auth_with_its_own_p256_key() -> None:
    ca = InternalCA.create()
    now = datetime.now(UTC)
    issued = ca.issue(["billing.alpeak.test"], now=now)
    leaf = x509.load_pem_x509_certificates(issued.chain_pem.encode())[0]
    assert abs(issued.not_after - (now + timedelta(days=90))) < timedelta(seconds=1)
    assert issued.not_before <= now
    assert leaf.not_valid_after_utc == issued.not_after
    assert format(leaf.serial_number, "x") == issued.serial
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert load_private_key_pem(issued.key_pem).public_key() == leaf.public_key()
    verify(ca, issued.chain_pem, "billing.alpeak.test", at=now + timedelta(days=89))
    with pytest.raises(VerificationError):
        verify(ca, issued.chain_pem, "billing.alpeak.test", at=now + timedelta(days=91))


def test_each_issue_gets_a_fresh_key_and_serial() -> None:
    ca = InternalCA.create()
    first, second = ca.issue(["a.test"]), ca.issue(["a.test"])
    assert first.key_pem != second.key_pem
    assert first.serial != second.serial


def test_issued_key_is_not_shown_in_logs() -> None:
    issued = InternalCA.create().issue(["a.test"])
    assert "PRIVATE KEY" not in repr(issued)


def test_wildcards_are_not_issued() -> None:
    with pytest.raises(InvalidCertificateNames):
        InternalCA.create().issue(["*.alpeak.test"])


async def test_root_is_created_once_and_shared_by_later_loads(pool: asyncpg.Pool) -> None:
    sealer = Sealer(os.urandom(32))
    first = await InternalCA.load_or_create(pool, sealer)
    async with pool.acquire() as connection:
        again = await InternalCA.load_or_create(connection, sealer)
    assert again.root_pem == first.root_pem
    verify(first, again.issue(["a.test"]).chain_pem, "a.test")
    rows = await pool.fetch("SELECT key_sealed FROM internal_ca")
    assert len(rows) == 1
    assert b"PRIVATE KEY" not in bytes(rows[0]["key_sealed"])


async def test_replicas_starting_at_once_create_a_single_root(pool: asyncpg.Pool) -> None:
    sealer = Sealer(os.urandom(32))
    cas = await asyncio.gather(*(InternalCA.load_or_create(pool, sealer) for _ in range(5)))
    assert len({ca.root_pem for ca in cas}) == 1
    assert await pool.fetchval("SELECT count(*) FROM internal_ca") == 1


async def test_root_with_another_key_encryption_key_is_reported(pool: asyncpg.Pool) -> None:
    await InternalCA.load_or_create(pool, Sealer(os.urandom(32)))
    with pytest.raises(KeyUnavailable, match="internal CA root"):
        await InternalCA.load_or_create(pool, Sealer(os.urandom(32)))


def test_the_root_lasts_at_most_two_years_and_leaves_three_months() -> None:
    now = datetime.now(UTC)
    ca = InternalCA.create(now=now)
    root = x509.load_pem_x509_certificate(ca.root_pem.encode())
    assert root.not_valid_after_utc - now <= timedelta(days=731)
    issued = ca.issue(["a.test"], now=now)
    assert issued.not_after - now <= timedelta(days=92)


async def test_a_root_near_its_end_is_rotated_and_the_old_one_kept(pool: asyncpg.Pool) -> None:
    """A root that cannot cover a whole leaf any more issues nothing: a new root takes over."""
    sealer = Sealer(os.urandom(32))
    ending = InternalCA.create(now=datetime.now(UTC) - timedelta(days=700))
    await pool.execute(
        "INSERT INTO internal_ca (cert_pem, key_sealed) VALUES ($1, $2)",
        ending.root_pem,
        sealer.seal(private_key_pem(ending._key), "internal_ca:root"),
    )
    current = await InternalCA.load_or_create(pool, sealer)
    assert current.root_pem != ending.root_pem
    issued = current.issue(["a.test"])
    verify(current, issued.chain_pem, "a.test")
    assert await pool.fetchval("SELECT count(*) FROM internal_ca") == 2
    again = await InternalCA.load_or_create(pool, sealer)
    assert again.root_pem == current.root_pem
