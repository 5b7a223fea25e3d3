"""Certificates from an ACME CA (RFC 8555) with certbot's `acme` library, one order per name.

How an issuance goes:

1. A session-level PostgreSQL advisory lock per name (on a dedicated pooled
   connection, names in sorted order so two multi-name orders cannot
   deadlock) makes one order run cluster-wide. A caller that waited finds
   the certificate the other one stored (see `Issuer.issue`'s `on_issued`), or
   fails at once when that order failed, instead of repeating it.
2. Budgets (`certs.budgets`) are checked under the lock.
3. The order is recorded in acme_orders as pending, one row per name.
4. For every pending authorization the answer (HTTP-01, else TLS-ALPN-01) goes
   to the challenge store BEFORE the CA is told to validate, and is removed
   afterwards whatever happens.
5. `poll_and_finalize` with a deadline; the order row becomes valid, invalid
   (a challenge failed: the name's DNS or responder is wrong) or error (any
   other CA answer, an outage, the deadline) with the CA's problem detail.

The library is blocking (`requests`, `time.sleep` while polling): every call
runs in a worker thread through `asyncio.to_thread`. A cancelled issuance
leaves its thread running until the deadline; the lock and challenge answers
are still released. One ACME account per directory (certs/acme_account.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from acme import challenges, client, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from josepy.b64 import b64encode
from josepy.jwk import JWKEC

from certs.acme_account import AcmeAccount, lock_key
from certs.acme_failures import describe_failure
from certs.budgets import DEFAULT_BUDGETS, Budgets, registered_domain
from certs.challenges import HTTP_01, TLS_ALPN_01, ChallengeStore
from certs.issuer import IssuanceFailed, IssuanceInProgress, IssuedCertificate, OnIssued
from certs.keys import (
    build_csr,
    generate_private_key,
    normalise_names,
    private_key_pem,
)
from certs.store import CertificateStore
from kernel.sealing import Sealer

log = logging.getLogger(__name__)

DEFAULT_DEADLINE = dt.timedelta(seconds=90)  # one order, from new-order to certificate
DEFAULT_LOCK_WAIT = dt.timedelta(minutes=3)  # a waiter outlasts one whole order
# Issuances in flight per process: each holds a pooled connection (its lock) and a thread.
DEFAULT_MAX_CONCURRENT = 4


class TLSALPN01Response(challenges.KeyAuthorizationChallengeResponse):
    """The answer to a TLS-ALPN-01 challenge (RFC 8737), which `acme` 5 no longer models.

    Like every key-authorization response it posts an empty JSON object; the
    proof is the certificate served on port 443 (`certs.tls_alpn`).
    """

    typ = TLS_ALPN_01


@dataclass(frozen=True)
class _Pending:
    """One challenge this issuance answers: what was stored and what to send the CA."""

    kind: str
    name: str
    token: str
    key_authorization: str
    body: messages.ChallengeBody


class AcmeIssuer:
    """`Issuer` backed by an ACME directory; safe to share within a process and across replicas.

    `ca_bundle` is a CA certificate file to trust for the directory's HTTPS
    (a test CA's listener); None trusts the system's store. `challenge_kinds`
    lists the methods to use in order of preference; the CA's validator must
    reach this gateway's port 80 (HTTP-01) or 443 (TLS-ALPN-01) for the name.
    At most `max_concurrent` issuances of this process run at once (each holds
    a connection of `db` for its lock); the others wait their turn.
    """

    kind = "acme"

    def __init__(
        self,
        directory_url: str,
        *,
        db: asyncpg.Pool[Any],
        sealer: Sealer,
        ca_bundle: Path | str | None = None,
        contact: str | None = None,
        challenge_kinds: Sequence[str] = (HTTP_01, TLS_ALPN_01),
        budgets: Budgets = DEFAULT_BUDGETS,
        deadline: dt.timedelta = DEFAULT_DEADLINE,
        lock_wait: dt.timedelta = DEFAULT_LOCK_WAIT,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    ) -> None:
        unknown = [kind for kind in challenge_kinds if kind not in (HTTP_01, TLS_ALPN_01)]
        if unknown or not challenge_kinds:
            raise ValueError(f"challenge kinds are http-01 and tls-alpn-01, not {unknown}")
        self.directory_url = directory_url
        self._db = db
        self._sealer = sealer
        # requests' `verify` takes a bool or a CA bundle path; the library passes it through.
        self._challenge_kinds = tuple(challenge_kinds)
        self._budgets = budgets
        self._deadline = deadline
        self._lock_wait = lock_wait
        self._challenges = ChallengeStore()
        self._certificates = CertificateStore()
        # requests' `verify` takes a bool or a CA bundle path; the library passes it through.
        self._account = AcmeAccount(
            directory_url,
            db=db,
            sealer=sealer,
            verify=True if ca_bundle is None else str(ca_bundle),
            contact=contact,
        )
        self._slots = asyncio.Semaphore(max_concurrent)

    @property
    def detail(self) -> str:
        return self.directory_url

    async def account_uri(self) -> str:
        """The URI of this directory's account, registering it first if needed."""
        _, uri = await self._account.load()
        return uri

    async def issue(
        self, names: list[str], *, on_issued: OnIssued | None = None
    ) -> IssuedCertificate:
        """See `certs.issuer.Issuer.issue`."""
        checked = normalise_names(names)
        # Before the name lock: registering needs a connection of its own, and waiters for the
        # lock each hold one; the semaphore keeps issuances from starving the shared pool.
        account = await self._account.load()
        async with self._slots, self._db.acquire() as connection:
            waiting_since: dt.datetime = await connection.fetchval("SELECT clock_timestamp()")
            async with self._name_locks(connection, checked):
                earlier = await self._result_of_earlier_order(connection, checked, waiting_since)
                if earlier is not None:
                    return earlier
                for name in checked:
                    await self._budgets.check(connection, name)
                return await self._order(connection, checked, account, on_issued)

    @asynccontextmanager
    async def _name_locks(self, connection: Any, names: list[str]) -> AsyncIterator[None]:
        keys = sorted({lock_key(f"gateway:acme_order:{name}") for name in names})
        taken: list[int] = []
        wait = self._lock_wait.total_seconds()
        try:
            for key in keys:
                try:
                    await connection.execute("SELECT pg_advisory_lock($1)", key, timeout=wait)
                except TimeoutError:
                    raise IssuanceInProgress(names, wait) from None
                taken.append(key)
            yield
        finally:
            # A lock granted just as a wait was cancelled is not in `taken`: asyncpg's pool
            # runs pg_advisory_unlock_all() when the connection is released, which frees it.
            for key in reversed(taken):
                await connection.execute("SELECT pg_advisory_unlock($1)", key)

    async def _result_of_earlier_order(
        self, connection: Any, names: list[str], since: dt.datetime
    ) -> IssuedCertificate | None:
        """What an order that finished while this caller waited for the lock left behind."""
        row = await connection.fetchrow(
            """
            SELECT outcome, detail FROM acme_orders
            WHERE name = ANY($1::text[]) AND directory_url = $2 AND finished_at >= $3
            ORDER BY finished_at DESC
            LIMIT 1
            """,
            names,
            self.directory_url,
            since,
        )
        if row is None:
            return None
        if row["outcome"] == "valid":
            stored = await self._certificates.latest_for_name(connection, self._sealer, names[0])
            if stored is None or not set(names) <= set(stored.names):
                return None  # issued but not stored by its caller: order again
            return IssuedCertificate(
                names=stored.names,
                chain_pem=stored.chain_pem,
                key_pem=stored.key_pem,
                serial=stored.serial,
                not_before=stored.not_before,
                not_after=stored.not_after,
            )
        raise IssuanceFailed(
            names,
            f"an order placed moments ago by another process failed ({row['detail']});"
            " fix that before retrying",
            validation_failed=row["outcome"] == "invalid",
        )

    async def _order(
        self,
        connection: Any,
        names: list[str],
        account: tuple[JWKEC, str],
        on_issued: OnIssued | None,
    ) -> IssuedCertificate:
        account_key, account_uri = account
        order_ids = await self._record_pending(connection, names)
        certificate_key = generate_private_key()
        csr_pem = build_csr(certificate_key, names)
        answered: list[_Pending] = []
        try:
            acme, order = await self._new_order(account_key, account_uri, csr_pem)
            await self._answer(connection, order, account_key, answered)
            for pending in answered:
                response = _response(pending)
                await asyncio.to_thread(acme.answer_challenge, pending.body, response)
            deadline = dt.datetime.now() + self._deadline  # the library compares naive local times
            order = await asyncio.to_thread(acme.poll_and_finalize, order, deadline)
        except asyncio.CancelledError:
            await self._record_outcome(connection, order_ids, "error", "the issuance was cancelled")
            raise
        except Exception as error:
            validation_failed, detail = describe_failure(error)
            await self._record_outcome(
                connection, order_ids, "invalid" if validation_failed else "error", detail
            )
            log.warning("ACME order for %s failed: %s", ", ".join(names), detail)
            raise IssuanceFailed(names, detail, validation_failed=validation_failed) from error
        finally:
            for pending in answered:
                await self._challenges.delete(
                    connection, kind=pending.kind, name=pending.name, token=pending.token
                )
        issued = _issued(names, order.fullchain_pem, private_key_pem(certificate_key))
        await self._record_outcome(connection, order_ids, "valid", f"serial {issued.serial}")
        if on_issued is not None:
            await on_issued(issued)
        return issued

    async def _new_order(
        self, account_key: JWKEC, account_uri: str, csr_pem: bytes
    ) -> tuple[client.ClientV2, messages.OrderResource]:
        """A client logged in as the account, and a new order for the CSR's names."""
        acme = await asyncio.to_thread(self._account.client, account_key, account_uri)
        try:
            return acme, await asyncio.to_thread(acme.new_order, csr_pem)
        except messages.Error as error:
            if error.code != "accountDoesNotExist":
                raise
        # The CA forgot the account (a test CA restarted): register the same key again.
        account_uri = await self._account.register_again(account_key)
        acme = await asyncio.to_thread(self._account.client, account_key, account_uri)
        return acme, await asyncio.to_thread(acme.new_order, csr_pem)

    async def _answer(
        self,
        connection: Any,
        order: messages.OrderResource,
        account_key: JWKEC,
        answered: list[_Pending],
    ) -> None:
        """Store the answer to each pending authorization's challenge, before the CA is told.

        Each stored answer is appended to `answered` at once, so the caller removes every
        one of them afterwards even when a later authorization fails.
        """
        for authorization in order.authorizations:
            if authorization.body.status == messages.STATUS_VALID:
                continue  # the CA reused an earlier validation
            pending = self._choose_challenge(authorization, account_key)
            # Stored before the CA is told: its validator may connect at once, to any replica.
            await self._challenges.put(
                connection,
                kind=pending.kind,
                name=pending.name,
                token=pending.token,
                key_authorization=pending.key_authorization,
            )
            answered.append(pending)

    def _choose_challenge(
        self, authorization: messages.AuthorizationResource, account_key: JWKEC
    ) -> _Pending:
        name = str(authorization.body.identifier.value).lower()
        # TLS-ALPN-01 arrives as UnrecognizedChallenge: read type and token from the JSON.
        offered: dict[str, tuple[messages.ChallengeBody, str]] = {}
        for body in authorization.body.challenges:
            fields = body.chall.to_partial_json()
            kind, token = fields.get("type"), fields.get("token")
            if isinstance(kind, str) and isinstance(token, str):
                offered.setdefault(kind, (body, token))
        for kind in self._challenge_kinds:
            if kind in offered:
                body, token = offered[kind]
                return _Pending(kind, name, token, _key_authorization(token, account_key), body)
        raise IssuanceFailed(
            [name],
            f"the CA offers none of {', '.join(self._challenge_kinds)}"
            f" (it offers {', '.join(sorted(offered))})",
        )

    async def _record_pending(self, connection: Any, names: list[str]) -> list[int]:
        rows = await connection.fetch(
            """
            INSERT INTO acme_orders (name, registered_domain, directory_url, outcome)
            SELECT name, domain, $3, 'pending'
            FROM unnest($1::text[], $2::text[]) AS t(name, domain)
            RETURNING id
            """,
            names,
            [registered_domain(name) for name in names],
            self.directory_url,
        )
        return [row["id"] for row in rows]

    async def _record_outcome(
        self, connection: Any, order_ids: list[int], outcome: str, detail: str
    ) -> None:
        await connection.execute(
            """
            UPDATE acme_orders SET outcome = $2, detail = $3, finished_at = clock_timestamp()
            WHERE id = ANY($1::bigint[])
            """,
            order_ids,
            outcome,
            detail[:2000],
        )


def _key_authorization(token: str, account_key: JWKEC) -> str:
    """RFC 8555 section 8.1: token "." base64url(SHA-256 JWK thumbprint of the account key)."""
    thumbprint = account_key.public_key().thumbprint(hash_function=hashes.SHA256)
    return f"{token}.{b64encode(thumbprint).decode('ascii')}"


def _response(pending: _Pending) -> challenges.KeyAuthorizationChallengeResponse:
    if pending.kind == HTTP_01:
        return challenges.HTTP01Response(key_authorization=pending.key_authorization)
    return TLSALPN01Response(key_authorization=pending.key_authorization)


def _issued(names: list[str], fullchain_pem: str, key_pem: bytes) -> IssuedCertificate:
    leaf = x509.load_pem_x509_certificate(fullchain_pem.encode("ascii"))
    return IssuedCertificate(
        names=names,
        chain_pem=fullchain_pem,
        key_pem=key_pem,
        serial=format(leaf.serial_number, "x"),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
    )
