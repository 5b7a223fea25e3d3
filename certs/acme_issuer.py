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
are still released. One ACME account per directory: its ECDSA P-256 key is
sealed in acme_accounts, created once under a transaction-level advisory lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import asyncpg
import requests
from acme import challenges, client, messages
from acme import errors as acme_errors
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from josepy.b64 import b64encode
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from certs.budgets import DEFAULT_BUDGETS, Budgets, registered_domain
from certs.challenges import HTTP_01, TLS_ALPN_01, ChallengeStore
from certs.issuer import IssuanceFailed, IssuanceInProgress, IssuedCertificate, OnIssued
from certs.keys import (
    build_csr,
    generate_private_key,
    load_private_key_pem,
    normalise_names,
    private_key_pem,
)
from certs.store import CertificateStore
from kernel.sealing import Sealer

log = logging.getLogger(__name__)

USER_AGENT = "billing-edge-gateway"
DEFAULT_DEADLINE = dt.timedelta(seconds=90)  # one order, from new-order to certificate
DEFAULT_LOCK_WAIT = dt.timedelta(minutes=3)  # a waiter outlasts one whole order
NETWORK_TIMEOUT = 30  # seconds per HTTP request to the CA
# Issuances in flight per process: each holds a pooled connection (its lock) and a thread.
DEFAULT_MAX_CONCURRENT = 4


def _lock_key(text: str) -> int:
    """A pg_advisory_lock key: the first 8 bytes of SHA-256 as a signed bigint."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def _account_purpose(directory_url: str) -> str:
    return f"acme_account:{directory_url}"


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
        self._verify: bool | str = True if ca_bundle is None else str(ca_bundle)
        self._contact = contact
        self._challenge_kinds = tuple(challenge_kinds)
        self._budgets = budgets
        self._deadline = deadline
        self._lock_wait = lock_wait
        self._challenges = ChallengeStore()
        self._certificates = CertificateStore()
        self._account: tuple[JWKEC, str] | None = None
        self._account_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(max_concurrent)

    @property
    def detail(self) -> str:
        return self.directory_url

    async def account_uri(self) -> str:
        """The URI of this directory's account, registering it first if needed."""
        _, uri = await self._load_account()
        return uri

    async def issue(
        self, names: list[str], *, on_issued: OnIssued | None = None
    ) -> IssuedCertificate:
        """See `certs.issuer.Issuer.issue`."""
        checked = normalise_names(names)
        # Before the name lock: registering needs a connection of its own, and waiters for the
        # lock each hold one; the semaphore keeps issuances from starving the shared pool.
        account = await self._load_account()
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
        keys = sorted({_lock_key(f"gateway:acme_order:{name}") for name in names})
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
            acme = await asyncio.to_thread(self._client, account_key, account_uri)
            try:
                order = await asyncio.to_thread(acme.new_order, csr_pem)
            except messages.Error as error:
                if error.code != "accountDoesNotExist":
                    raise
                # The CA forgot the account (a test CA restarted): register the same key again.
                account_uri = await self._register_again(account_key)
                acme = await asyncio.to_thread(self._client, account_key, account_uri)
                order = await asyncio.to_thread(acme.new_order, csr_pem)
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
            for pending in answered:
                response = _response(pending)
                await asyncio.to_thread(acme.answer_challenge, pending.body, response)
            deadline = dt.datetime.now() + self._deadline  # the library compares naive local times
            order = await asyncio.to_thread(acme.poll_and_finalize, order, deadline)
        except asyncio.CancelledError:
            await self._record_outcome(connection, order_ids, "error", "the issuance was cancelled")
            raise
        except Exception as error:
            validation_failed, detail = _describe_failure(error)
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

    def _client(self, account_key: JWKEC, account_uri: str) -> client.ClientV2:
        """A client logged in as the account (blocking: fetches the directory)."""
        network = client.ClientNetwork(
            account_key,
            alg=ES256,
            verify_ssl=cast(bool, self._verify),
            user_agent=USER_AGENT,
            timeout=NETWORK_TIMEOUT,
        )
        network.account = messages.RegistrationResource(
            body=messages.Registration(), uri=account_uri
        )
        return client.ClientV2(client.ClientV2.get_directory(self.directory_url, network), network)

    def _register(self, account_key: JWKEC) -> str:
        """Register (or find, for a known key) the account; returns its URI. Blocking."""
        network = client.ClientNetwork(
            account_key,
            alg=ES256,
            verify_ssl=cast(bool, self._verify),
            user_agent=USER_AGENT,
            timeout=NETWORK_TIMEOUT,
        )
        acme = client.ClientV2(client.ClientV2.get_directory(self.directory_url, network), network)
        registration = messages.NewRegistration.from_data(
            email=self._contact, terms_of_service_agreed=True
        )
        try:
            return str(acme.new_account(registration).uri)
        except acme_errors.ConflictError as existing:
            return str(existing.location)

    async def _load_account(self) -> tuple[JWKEC, str]:
        """This directory's account key and URI: cached, stored, or registered now (once)."""
        async with self._account_lock:
            if self._account is not None:
                return self._account
            async with self._db.acquire() as connection, connection.transaction():
                # Serialises concurrent creators across replicas; released at commit.
                await connection.execute(
                    "SELECT pg_advisory_xact_lock($1)",
                    _lock_key(f"gateway:acme_account:{self.directory_url}"),
                )
                row = await connection.fetchrow(
                    "SELECT account_uri, key_sealed FROM acme_accounts WHERE directory_url = $1",
                    self.directory_url,
                )
                purpose = _account_purpose(self.directory_url)
                if row is not None and row["account_uri"]:
                    key_pem = self._sealer.open(bytes(row["key_sealed"]), purpose)
                    account_key = JWKEC(key=load_private_key_pem(key_pem))
                    self._account = (account_key, str(row["account_uri"]))
                    return self._account
                private_key = generate_private_key()
                account_key = JWKEC(key=private_key)
                uri = await self._call_ca(self._register, account_key)
                await connection.execute(
                    """
                    INSERT INTO acme_accounts (directory_url, account_uri, key_sealed, contact)
                    VALUES ($1, $2, $3, $4)
                    ON CONFLICT (directory_url) DO UPDATE
                        SET account_uri = EXCLUDED.account_uri,
                            key_sealed = EXCLUDED.key_sealed,
                            contact = EXCLUDED.contact
                    """,
                    self.directory_url,
                    uri,
                    self._sealer.seal(private_key_pem(private_key), purpose),
                    self._contact,
                )
                self._account = (account_key, uri)
                return self._account

    async def _register_again(self, account_key: JWKEC) -> str:
        uri = await self._call_ca(self._register, account_key)
        async with self._account_lock:
            await self._db.execute(
                "UPDATE acme_accounts SET account_uri = $2 WHERE directory_url = $1",
                self.directory_url,
                uri,
            )
            self._account = (account_key, uri)
        return str(uri)

    async def _call_ca(self, function: Any, *arguments: Any) -> Any:
        try:
            return await asyncio.to_thread(function, *arguments)
        except Exception as error:
            _, detail = _describe_failure(error)
            raise IssuanceFailed([], f"the ACME account could not be set up: {detail}") from error

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


def _describe_failure(error: BaseException) -> tuple[bool, str]:
    """(whether a challenge failed validation, a readable detail with the CA's problem)."""
    if isinstance(error, acme_errors.ValidationError):
        details = []
        for authorization in error.failed_authzrs:
            name = authorization.body.identifier.value
            for body in authorization.body.challenges:
                if body.error is not None:
                    details.append(f"{name}: {_problem(body.error)}")
        return True, "; ".join(details) or "a challenge failed validation"
    if isinstance(error, acme_errors.IssuanceError):
        return False, f"the CA refused to issue: {_problem(error.error)}"
    if isinstance(error, acme_errors.TimeoutError):
        return False, "the CA did not finish the order before the deadline"
    if isinstance(error, messages.Error):
        return False, f"the CA answered with an error: {_problem(error)}"
    if isinstance(error, requests.RequestException):
        return False, f"the CA could not be reached: {error}"
    if isinstance(error, IssuanceFailed):
        return error.validation_failed, error.reason
    return False, f"{type(error).__name__}: {error}"


def _problem(problem: messages.Error) -> str:
    """An RFC 7807 problem document in one line: its type, detail and sub-problems."""
    parts = [str(problem.typ or "about:blank")]
    if problem.detail:
        parts.append(str(problem.detail))
    text = " :: ".join(parts)
    subproblems = getattr(problem, "subproblems", None) or ()
    if subproblems:
        text += " (" + "; ".join(str(sub) for sub in subproblems) + ")"
    return text


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
