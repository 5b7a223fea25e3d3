"""The internal CA: one shared root per database, leaves that strict verifiers accept."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from certs.errors import InvalidCertificateNames, KeyUnavailable, NameOutsideInternalCA
from certs.internal_ca import InternalCA
from certs.keys import load_private_key_pem, private_key_pem
from kernel.sealing import Sealer
from tests.tls.clients import memory_handshake, trusting_client

# The names the roots of these tests may vouch for (with their subdomains).
PERMITTED = ("a.test", "alpeak.test")


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
    ca = InternalCA.create(permitted_names=PERMITTED)
    issued = ca.issue(["Billing.Alpeak.test", "www.alpeak.test"])
    assert issued.names == ["billing.alpeak.test", "www.alpeak.test"]
    verify(ca, issued.chain_pem, "billing.alpeak.test")
    verify(ca, issued.chain_pem, "www.alpeak.test")
    with pytest.raises(VerificationError):
        verify(ca, issued.chain_pem, "other.alpeak.test")
    with pytest.raises(VerificationError):
        verify(
            InternalCA.create(permitted_names=PERMITTED), issued.chain_pem, "billing.alpeak.test"
        )


def test_leaf_lasts_90_days_for_server_auth_with_its_own_p256_key() -> None:
    ca = InternalCA.create(permitted_names=PERMITTED)
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
    ca = InternalCA.create(permitted_names=PERMITTED)
    first, second = ca.issue(["a.test"]), ca.issue(["a.test"])
    assert first.key_pem != second.key_pem
    assert first.serial != second.serial


def test_issued_key_is_not_shown_in_logs() -> None:
    issued = InternalCA.create(permitted_names=PERMITTED).issue(["a.test"])
    assert "PRIVATE KEY" not in repr(issued)


def test_wildcards_are_not_issued() -> None:
    with pytest.raises(InvalidCertificateNames):
        InternalCA.create(permitted_names=PERMITTED).issue(["*.alpeak.test"])


async def test_root_is_created_once_and_shared_by_later_loads(pool: asyncpg.Pool) -> None:
    sealer = Sealer(os.urandom(32))
    first = await InternalCA.load_or_create(pool, sealer, permitted_names=PERMITTED)
    async with pool.acquire() as connection:
        again = await InternalCA.load_or_create(connection, sealer, permitted_names=PERMITTED)
    assert again.root_pem == first.root_pem
    verify(first, again.issue(["a.test"]).chain_pem, "a.test")
    rows = await pool.fetch("SELECT key_sealed FROM internal_ca")
    assert len(rows) == 1
    assert b"PRIVATE KEY" not in bytes(rows[0]["key_sealed"])


async def test_replicas_starting_at_once_create_a_single_root(pool: asyncpg.Pool) -> None:
    sealer = Sealer(os.urandom(32))
    cas = await asyncio.gather(
        *(InternalCA.load_or_create(pool, sealer, permitted_names=PERMITTED) for _ in range(5))
    )
    assert len({ca.root_pem for ca in cas}) == 1
    assert await pool.fetchval("SELECT count(*) FROM internal_ca") == 1


async def test_root_with_another_key_encryption_key_is_reported(pool: asyncpg.Pool) -> None:
    await InternalCA.load_or_create(pool, Sealer(os.urandom(32)), permitted_names=PERMITTED)
    with pytest.raises(KeyUnavailable, match="internal CA root"):
        await InternalCA.load_or_create(pool, Sealer(os.urandom(32)), permitted_names=PERMITTED)


def test_the_root_lasts_at_most_two_years_and_leaves_three_months() -> None:
    now = datetime.now(UTC)
    ca = InternalCA.create(permitted_names=PERMITTED, now=now)
    root = x509.load_pem_x509_certificate(ca.root_pem.encode())
    assert root.not_valid_after_utc - now <= timedelta(days=731)
    issued = ca.issue(["a.test"], now=now)
    assert issued.not_after - now <= timedelta(days=92)


async def test_a_root_near_its_end_is_rotated_and_the_old_one_kept(pool: asyncpg.Pool) -> None:
    """A root that cannot cover a whole leaf any more issues nothing: a new root takes over."""
    sealer = Sealer(os.urandom(32))
    ending = InternalCA.create(
        permitted_names=PERMITTED, now=datetime.now(UTC) - timedelta(days=700)
    )
    await pool.execute(
        "INSERT INTO internal_ca (cert_pem, key_sealed) VALUES ($1, $2)",
        ending.root_pem,
        sealer.seal(private_key_pem(ending._key), "internal_ca:root"),
    )
    current = await InternalCA.load_or_create(pool, sealer, permitted_names=PERMITTED)
    assert current.root_pem != ending.root_pem
    issued = current.issue(["a.test"])
    verify(current, issued.chain_pem, "a.test")
    assert await pool.fetchval("SELECT count(*) FROM internal_ca") == 2
    again = await InternalCA.load_or_create(pool, sealer, permitted_names=PERMITTED)
    assert again.root_pem == current.root_pem


def test_the_root_is_limited_to_its_names_by_critical_name_constraints() -> None:
    ca = InternalCA.create(permitted_names=["Gateway.test", "localhost", "shop.example"])
    root = x509.load_pem_x509_certificate(ca.root_pem.encode())
    extension = root.extensions.get_extension_for_class(x509.NameConstraints)
    assert extension.critical
    permitted = extension.value.permitted_subtrees or []
    assert [subtree.value for subtree in permitted] == ["gateway.test", "localhost", "shop.example"]
    assert all(isinstance(subtree, x509.DNSName) for subtree in permitted)
    # No DNS name is excluded; every IP address is, as the CA issues for DNS names only.
    excluded = extension.value.excluded_subtrees or []
    assert [subtree.value for subtree in excluded] == [
        ipaddress.ip_network("0.0.0.0/0"),
        ipaddress.ip_network("::/0"),
    ]
    assert ca.permitted_names == ("gateway.test", "localhost", "shop.example")


def test_issuing_for_a_name_outside_the_root_is_refused_naming_the_setting() -> None:
    ca = InternalCA.create(permitted_names=["gateway.test", "localhost"])
    verify(ca, ca.issue(["gateway.test"]).chain_pem, "gateway.test")
    verify(ca, ca.issue(["alpeak.localhost"]).chain_pem, "alpeak.localhost")
    with pytest.raises(NameOutsideInternalCA) as refused:
        ca.issue(["billing.gateway.test", "shop.example.com", "evilgateway.test"])
    assert refused.value.names == ["shop.example.com", "evilgateway.test"]
    message = str(refused.value)
    assert "shop.example.com, evilgateway.test" in message
    assert "gateway.test, localhost" in message
    assert "GATEWAY_INTERNAL_CA_NAMES" in message


def hand_made_leaf(ca: InternalCA, name: str, tmp_path: Path) -> ssl.SSLContext:
    """A server context with a leaf for `name` signed by the root's key directly, as a thief
    holding the key would make it (issue() is bypassed), with the same extensions."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.load_pem_x509_certificate(ca.root_pem.encode()).subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca._key.public_key()),
            critical=False,
        )
        .sign(ca._key, hashes.SHA256())
    )
    chain = tmp_path / f"{name}.pem"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + ca.root_pem.encode())
    key_file = tmp_path / f"{name}.key"
    key_file.write_bytes(private_key_pem(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key_file)
    return context


def test_tls_clients_trusting_the_root_refuse_a_leaf_outside_its_names(tmp_path: Path) -> None:
    """The constraint holds even against leaves made with the stolen root key."""
    ca = InternalCA.create(permitted_names=["gateway.test", "localhost"])
    client = trusting_client(ca.root_pem)
    inside = hand_made_leaf(ca, "alpeak.gateway.test", tmp_path)
    memory_handshake(inside, client, "alpeak.gateway.test")
    outside = hand_made_leaf(ca, "bank.example.com", tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError) as refused:
        memory_handshake(outside, client, "bank.example.com")
    # X509_V_ERR_PERMITTED_VIOLATION: the name lies outside the root's permitted subtrees.
    assert refused.value.verify_code == 47
    assert "permitted subtree violation" in refused.value.verify_message


async def test_a_root_with_other_name_constraints_is_replaced_and_kept(
    pool: asyncpg.Pool,
) -> None:
    sealer = Sealer(os.urandom(32))
    before = await InternalCA.load_or_create(pool, sealer, permitted_names=["localhost"])
    after = await InternalCA.load_or_create(
        pool, sealer, permitted_names=["localhost", "shop.example"]
    )
    assert after.root_pem != before.root_pem
    assert after.permitted_names == ("localhost", "shop.example")
    verify(after, after.issue(["www.shop.example"]).chain_pem, "www.shop.example")
    # The old root stays stored: leaves it issued keep working until they expire.
    assert await pool.fetchval("SELECT count(*) FROM internal_ca") == 2
    again = await InternalCA.load_or_create(
        pool, sealer, permitted_names=["shop.example", "LOCALHOST"]
    )
    assert again.root_pem == after.root_pem


async def test_a_stored_root_without_name_constraints_is_replaced(pool: asyncpg.Pool) -> None:
    """Roots made before the constraints existed vouch for any name: they issue nothing more."""
    sealer = Sealer(os.urandom(32))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unconstrained Root")])
    now = datetime.now(UTC)
    unconstrained = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=700))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    await pool.execute(
        "INSERT INTO internal_ca (cert_pem, key_sealed) VALUES ($1, $2)",
        unconstrained.public_bytes(serialization.Encoding.PEM).decode(),
        sealer.seal(private_key_pem(key), "internal_ca:root"),
    )
    current = await InternalCA.load_or_create(pool, sealer, permitted_names=PERMITTED)
    assert current.permitted_names == PERMITTED
    assert await pool.fetchval("SELECT count(*) FROM internal_ca") == 2
