"""ACME issuance against a real Pebble CA: HTTP-01 and TLS-ALPN-01, failures, budgets, locks.

Pebble's validator resolves names through pebble-challtestsrv (127.0.0.1 by
default) and connects to the ports the `pebble` fixture chose; the responders
below listen there and answer from the challenge store in PostgreSQL, as the
gateway's port-80 handler and TLS-ALPN-01 responder do.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from certs.acme_issuer import AcmeIssuer
from certs.budgets import BudgetExhausted, Budgets
from certs.challenges import TLS_ALPN_01, ChallengeStore, http01_response
from certs.issuer import IssuanceFailed, IssuedCertificate, Issuer
from certs.keys import (
    encrypt_private_key_pem,
    generate_private_key,
    new_key_password,
    private_key_pem,
)
from certs.store import CertificateStore
from certs.tls_alpn import challenge_certificate
from gateway.tls.client_hello import peek_client_hello
from gateway.tls.policy import acme_tls_alpn_context, server_context
from kernel.sealing import Sealer
from tests.fixtures.pebble import Pebble, challtestsrv, pebble
from tests.tls.clients import memory_handshake, trusting_client

__all__ = ["challtestsrv", "pebble"]

pytestmark = pytest.mark.slow


def unique_name() -> str:
    return f"billing-{secrets.token_hex(4)}.alpeak.test"


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(os.urandom(32))


@pytest.fixture
def make_issuer(pool: asyncpg.Pool, sealer: Sealer, pebble: Pebble) -> Callable[..., AcmeIssuer]:
    def make(**options: Any) -> AcmeIssuer:
        options.setdefault("deadline", timedelta(seconds=30))
        return AcmeIssuer(
            pebble.directory_url,
            db=pool,
            sealer=sealer,
            ca_bundle=pebble.ca_bundle,
            **options,
        )

    return make


@pytest.fixture
async def http01_requests(
    aiohttp_server: Any, pool: asyncpg.Pool, pebble: Pebble
) -> list[tuple[str, int]]:
    """An HTTP-01 responder on Pebble's httpPort; lists (token, status) of what it answered."""
    seen: list[tuple[str, int]] = []

    async def challenge(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        host = request.host.rsplit(":", 1)[0] if ":" in request.host else request.host
        answer = await http01_response(pool, token, name=host)
        seen.append((token, 200 if answer is not None else 404))
        if answer is None:
            raise web.HTTPNotFound()
        return web.Response(text=answer)

    app = web.Application()
    app.router.add_get("/.well-known/acme-challenge/{token}", challenge)
    await aiohttp_server(app, host="127.0.0.1", port=pebble.http_port)
    return seen


class TlsAlpnResponder:
    """Peeks each ClientHello; an `acme-tls/1`-only offer gets the RFC 8737 certificate."""

    def __init__(self, pool: asyncpg.Pool, port: int) -> None:
        self.pool = pool
        self.port = port
        self.alpn_offers: list[list[str]] = []
        self.served: list[str] = []
        self.errors: list[BaseException] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[TlsAlpnResponder]:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.setblocking(False)
        accepting = asyncio.create_task(self._accept(listener))
        try:
            yield self
        finally:
            accepting.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(accepting, *self._tasks, return_exceptions=True)
            listener.close()

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            connection, _ = await loop.sock_accept(listener)
            task = asyncio.create_task(self._serve(connection))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, connection: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        connection.setblocking(False)
        try:
            hello = await peek_client_hello(connection, loop=loop, timeout=5)
            self.alpn_offers.append(hello.alpn_protocols)
            answer = None
            if hello.is_acme_tls_alpn and hello.server_name:
                answer = await ChallengeStore().tls_alpn01_key_authorization(
                    self.pool, hello.server_name
                )
            if answer is None or hello.server_name is None:
                connection.close()
                return
            certificate = challenge_certificate(hello.server_name, answer)
            password = new_key_password()
            context = acme_tls_alpn_context(
                certificate.certificate_pem, certificate.encrypted_key_pem(password), password
            )
            transport, _ = await loop.connect_accepted_socket(
                asyncio.Protocol, connection, ssl=context, ssl_handshake_timeout=5
            )
            self.served.append(hello.server_name)
            transport.close()
        except Exception as error:  # recorded for the test to show; the validator decides
            self.errors.append(error)
            connection.close()


@pytest.fixture
async def tls_alpn_responder(pool: asyncpg.Pool, pebble: Pebble) -> AsyncIterator[TlsAlpnResponder]:
    async with TlsAlpnResponder(pool, pebble.tls_port).running() as responder:
        yield responder


def assert_trusted_for(issued: IssuedCertificate, name: str, root_pem: str) -> None:
    """A client trusting only Pebble's root completes a handshake for `name` with it."""
    password = new_key_password()
    server = server_context(
        issued.chain_pem, encrypt_private_key_pem(issued.key_pem, password), password
    )
    connection = memory_handshake(server, trusting_client(root_pem), name)
    der = connection.client.getpeercert(binary_form=True)
    assert der is not None
    leaf = x509.load_der_x509_certificate(der)
    assert format(leaf.serial_number, "x") == issued.serial
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]


async def orders(pool: asyncpg.Pool, name: str) -> list[tuple[str, str | None]]:
    rows = await pool.fetch(
        "SELECT outcome, detail FROM acme_orders WHERE name = $1 ORDER BY id", name
    )
    return [(row["outcome"], row["detail"]) for row in rows]


async def test_http01_issuance_yields_a_chain_trusted_by_pebbles_root(
    pool: asyncpg.Pool,
    make_issuer: Callable[..., AcmeIssuer],
    http01_requests: list[tuple[str, int]],
    pebble: Pebble,
) -> None:
    name = unique_name()
    issuer: Issuer = make_issuer(challenge_kinds=("http-01",))

    issued = await issuer.issue([name.upper()])

    assert issued.names == [name]
    assert_trusted_for(issued, name, pebble.root_pem)
    assert http01_requests
    assert all(status == 200 for _, status in http01_requests)
    assert await orders(pool, name) == [("valid", f"serial {issued.serial}")]
    # The answer is gone once the CA has validated.
    assert await pool.fetchval("SELECT count(*) FROM acme_challenges") == 0


async def test_tls_alpn01_issuance_serves_the_validator_offering_only_acme_tls_1(
    pool: asyncpg.Pool,
    make_issuer: Callable[..., AcmeIssuer],
    tls_alpn_responder: TlsAlpnResponder,
    pebble: Pebble,
) -> None:
    name = unique_name()
    issuer = make_issuer(challenge_kinds=(TLS_ALPN_01,))

    issued = await issuer.issue([name])

    assert_trusted_for(issued, name, pebble.root_pem)
    assert tls_alpn_responder.errors == []
    assert tls_alpn_responder.served
    assert set(tls_alpn_responder.served) == {name}
    assert all(offer == ["acme-tls/1"] for offer in tls_alpn_responder.alpn_offers)
    assert await orders(pool, name) == [("valid", f"serial {issued.serial}")]
    assert await pool.fetchval("SELECT count(*) FROM acme_challenges") == 0


async def test_account_is_registered_once_sealed_and_reused_after_a_restart(
    pool: asyncpg.Pool,
    make_issuer: Callable[..., AcmeIssuer],
    http01_requests: list[tuple[str, int]],
    pebble: Pebble,
) -> None:
    first = make_issuer()
    await first.issue([unique_name()])
    restarted = make_issuer()  # a new process: nothing cached in memory
    await restarted.issue([unique_name()])

    rows = await pool.fetch("SELECT directory_url, account_uri, key_sealed FROM acme_accounts")
    assert len(rows) == 1
    assert rows[0]["directory_url"] == pebble.directory_url
    assert await first.account_uri() == await restarted.account_uri() == rows[0]["account_uri"]
    assert b"PRIVATE KEY" not in bytes(rows[0]["key_sealed"])


async def test_failed_validation_records_an_invalid_order_and_spends_the_failure_budget(
    pool: asyncpg.Pool,
    make_issuer: Callable[..., AcmeIssuer],
    http01_requests: list[tuple[str, int]],
    pebble: Pebble,
) -> None:
    name = unique_name()
    pebble.dns.add_a(name, ["127.0.0.2"])  # nothing of ours listens there
    issuer = make_issuer(
        challenge_kinds=("http-01",), budgets=Budgets(failed_validations_per_name=1)
    )

    with pytest.raises(IssuanceFailed) as caught:
        await issuer.issue([name])

    assert caught.value.validation_failed
    [(outcome, detail)] = await orders(pool, name)
    assert outcome == "invalid"
    assert detail is not None
    assert name in detail
    assert "127.0.0.2" in detail  # the CA's own words on what it reached
    assert await pool.fetchval("SELECT count(*) FROM acme_challenges") == 0

    with pytest.raises(BudgetExhausted) as held_back:
        await issuer.issue([name])
    assert held_back.value.retry_at is not None
    assert len(await orders(pool, name)) == 1  # no second order reached the CA


async def test_two_replicas_asked_at_once_place_exactly_one_order(
    pool: asyncpg.Pool,
    sealer: Sealer,
    make_issuer: Callable[..., AcmeIssuer],
    http01_requests: list[tuple[str, int]],
    pebble: Pebble,
) -> None:
    name = unique_name()
    store = CertificateStore()

    async def keep(issued: IssuedCertificate) -> None:
        await store.save(
            pool,
            sealer,
            tenant_id=None,
            domain_id=None,
            names=issued.names,
            issuer="acme",
            chain_pem=issued.chain_pem,
            key_pem=issued.key_pem,
        )

    replicas = [make_issuer(), make_issuer()]
    results = await asyncio.gather(*(replica.issue([name], on_issued=keep) for replica in replicas))

    assert results[0].serial == results[1].serial
    assert [outcome for outcome, _ in await orders(pool, name)] == ["valid"]
    assert await pool.fetchval("SELECT count(*) FROM certificates") == 1
    assert await pool.fetchval("SELECT count(*) FROM acme_accounts") == 1


async def test_an_account_the_ca_forgot_is_registered_again_with_its_key(
    pool: asyncpg.Pool,
    sealer: Sealer,
    make_issuer: Callable[..., AcmeIssuer],
    http01_requests: list[tuple[str, int]],
    pebble: Pebble,
) -> None:
    forgotten = pebble.directory_url.replace("/dir", "/my-account/forgotten")
    await pool.execute(
        "INSERT INTO acme_accounts (directory_url, account_uri, key_sealed) VALUES ($1, $2, $3)",
        pebble.directory_url,
        forgotten,
        sealer.seal(
            private_key_pem(generate_private_key()), f"acme_account:{pebble.directory_url}"
        ),
    )
    issuer = make_issuer()

    await issuer.issue([unique_name()])

    uri = await pool.fetchval("SELECT account_uri FROM acme_accounts")
    assert uri != forgotten
    assert await issuer.account_uri() == uri
