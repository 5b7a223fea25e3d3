"""Choosing the certificate for a ClientHello: memory, then PostgreSQL, then (allowed) issue now.

Names the host index does not know are refused from memory, before any of
this: a flood of handshakes for random names costs no query (issue 13). The
index knows the served names and the verified custom domains awaiting their
first certificate, and follows NOTIFY gateway_hosts, so a domain activated or
verified on any replica is known here in well under a second.

The order follows certmagic's handshake path: the LRU of SSL contexts first
(no I/O), the certificates table next (the newest certificate covering the
name, so a restarted replica serves its first handshake from storage), and an
issuance last, only for names the gateway is allowed to serve:

- a custom domain whose row says verified, issuing, active or renewing
  (DESIGN.md: handshake-time issuance is a fallback for names verified in
  the database, never for a name a stranger points at us);
- the gateway's own names, `<slug>.<base domain>` of an existing tenant and
  the vendor hosts api./app.<base domain>: with vendor certificate files
  configured those are served from the files (a wildcard for *.<base>), else
  with the internal issuer they are issued like any other name, else refused.

An issued certificate is stored in the issuer's `on_issued` callback, while the
issuer's lock is held, so every replica reuses it. Anything else is refused
(`context_for` returns None: the listener sends unrecognized_name).

A ClientHello offering exactly acme-tls/1 is a TLS-ALPN-01 validation (RFC
8737): it gets a fresh validation certificate for the pending challenge from
the challenge store, never cached. Challenges exist only for custom domains
being issued or renewed, which the index knows; a validation for a name the
index does not know yet waits (without a query) up to ACME_NAME_WAIT_SECONDS
for the index's next reload, since the CA may connect right after the domain
verified.

Every replica follows `NOTIFY gateway_certificates` (sent by a trigger on any
change of the table): names whose certificates were written since the last
look are dropped from the LRU and load again on their next handshake, so a
renewed certificate serves new handshakes while open connections keep theirs.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from certs.challenges import ChallengeStore
from certs.errors import CertsError
from certs.issuance import issue_and_store
from certs.keys import encrypt_private_key_pem, new_key_password
from certs.store import CertificateStore
from certs.tls_alpn import challenge_certificate
from gateway.hostnames import InvalidHostName, normalise_host_name
from gateway.settings import Settings
from gateway.tenants.domains import issuable_domain_id
from gateway.tls.client_hello import ClientHello
from gateway.tls.contexts import ContextCache
from gateway.tls.errors import TlsError
from gateway.tls.policy import acme_tls_alpn_context, server_context
from gateway.tls.server_name import remember_server_name
from kernel.background import (
    RETRY_INITIAL_SECONDS,
    RETRY_MAX_SECONDS,
    follow_channel,
    reraise_if_cancelled,
    stop_tasks,
)
from kernel.db import Pool
from kernel.sealing import Sealer

if TYPE_CHECKING:
    from certs.issuer import Issuer
    from gateway.tenants.index import HostIndex

logger = logging.getLogger(__name__)

CHANNEL = "gateway_certificates"
# How long a TLS-ALPN-01 validation for a name the host index does not know waits for
# the index's next reload (NOTIFY gateway_hosts) before it is refused.
ACME_NAME_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class ServedName:
    """Why a name may be served: `kind` is vendor, tenant (default host) or domain."""

    kind: str
    tenant_id: int | None = None
    domain_id: str | None = None


class CertificateResolver:
    """SSL contexts per SNI name for the HTTPS listener (see the module docstring).

    `issuer_getter` returns the issuer (or None: no handshake-time issuance);
    it is called per issuance, so an issuer set after start-up is used. Call
    `listen()` to follow certificate changes and `close()` before the pool
    closes.
    """

    def __init__(
        self,
        pool: Pool,
        sealer: Sealer,
        cache: ContextCache,
        host_index: HostIndex,
        settings: Settings,
        issuer_getter: Callable[[], Issuer | None],
        *,
        retry_initial_seconds: float = RETRY_INITIAL_SECONDS,
        retry_max_seconds: float = RETRY_MAX_SECONDS,
        health_check_seconds: float = 30.0,
    ) -> None:
        self._pool = pool
        self._sealer = sealer
        self._cache = cache
        self._host_index = host_index
        self._settings = settings
        self._issuer_getter = issuer_getter
        self._store = CertificateStore()
        self._challenges = ChallengeStore()
        self._vendor_context: ssl.SSLContext | None = None
        self._issuing: dict[str, asyncio.Task[ssl.SSLContext | None]] = {}
        self._changed = asyncio.Event()
        self._watermark: datetime | None = None
        self._count: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._retry_initial_seconds = retry_initial_seconds
        self._retry_max_seconds = retry_max_seconds
        self._health_check_seconds = health_check_seconds
        # Operator counters: contexts built from storage, certificates issued at handshake.
        self.loaded = 0
        self.issued = 0

    async def context_for(self, hello: ClientHello) -> ssl.SSLContext | None:
        """The context to answer `hello` with, or None to refuse it with unrecognized_name.

        May wait for PostgreSQL and, for a cold allowed name, for an issuance
        (seconds with ACME). Never raises for a bad name or a failed issuance:
        both are logged and refused.
        """
        name = _server_name(hello)
        if name is None:
            return None
        if hello.is_acme_tls_alpn:
            if not await self._may_have_challenge(name):
                return None
            return await self._challenge_context(name)
        served = self._served(name)
        if served is None:
            return None
        if served.kind != "domain" and self._settings.vendor_cert_file is not None:
            return self._vendor_files_context()
        context = self._cache.get(name)
        if context is not None:
            return context
        context = await self._stored_context(name)
        if context is not None:
            return context
        if served.kind != "domain" and self._settings.issuer != "internal":
            logger.warning("no vendor certificate files: refusing %s", name)
            return None
        return await self._issue_once(name, served)

    def invalidate(self, name: str) -> None:
        """Forget the cached context of `name`; its next handshake loads it again."""
        self._cache.invalidate(name)

    async def listen(self) -> None:
        """Start following NOTIFY gateway_certificates in the background."""
        if self._tasks:
            raise RuntimeError("the certificate resolver is already listening")
        self._tasks = [
            asyncio.create_task(self._follow_notifications(), name="certificate listener"),
            asyncio.create_task(self._invalidate_on_change(), name="certificate invalidator"),
        ]

    async def close(self) -> None:
        """Stop listening and cancel handshake-time issuances in flight."""
        tasks = self._tasks + list(self._issuing.values())
        self._tasks = []
        await stop_tasks(tasks)

    # Which names are served.

    def _served(self, name: str) -> ServedName | None:
        """Whether `name` is served, from memory only (no query, whatever the name)."""
        settings = self._settings
        if name in (settings.api_host, settings.app_host):
            return ServedName("vendor")
        index = self._host_index
        tenant = index.lookup(name)
        if tenant is not None:
            if name == index.default_host(tenant):
                return ServedName("tenant", tenant_id=tenant.id)
            return ServedName("domain", tenant_id=tenant.id)
        awaiting = index.awaiting_certificate(name)
        if awaiting is not None:
            # Verified in the database: a handshake may issue its first certificate.
            return ServedName("domain", tenant_id=awaiting.id)
        return None

    async def _may_have_challenge(self, name: str) -> bool:
        """Whether a TLS-ALPN-01 challenge may be pending for `name`, known without a query."""
        index = self._host_index
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ACME_NAME_WAIT_SECONDS
        while True:
            served = self._served(name)
            if served is not None:
                return served.kind == "domain"
            remaining = deadline - loop.time()
            if remaining <= 0 or not await index.wait_for_reload(remaining):
                return False

    # Where contexts come from.

    async def _challenge_context(self, name: str) -> ssl.SSLContext | None:
        key_authorization = await self._challenges.tls_alpn01_key_authorization(self._pool, name)
        if key_authorization is None:
            return None
        certificate = challenge_certificate(name, key_authorization)
        password = new_key_password()
        return acme_tls_alpn_context(
            certificate.certificate_pem, certificate.encrypted_key_pem(password), password
        )

    def _vendor_files_context(self) -> ssl.SSLContext | None:
        if self._vendor_context is None:
            cert_file, key_file = self._settings.vendor_cert_file, self._settings.vendor_key_file
            assert cert_file is not None
            assert key_file is not None
            try:
                password = new_key_password()
                context = server_context(
                    cert_file.read_text("ascii"),
                    encrypt_private_key_pem(key_file.read_bytes(), password),
                    password,
                )
            except (OSError, ValueError, TypeError, TlsError):
                logger.exception("the vendor certificate files do not load")
                return None
            self._vendor_context = remember_server_name(context)
        return self._vendor_context

    async def _stored_context(self, name: str) -> ssl.SSLContext | None:
        try:
            stored = await self._store.latest_for_name(self._pool, self._sealer, name)
        except CertsError:
            logger.exception("the stored certificate for %s does not open", name)
            return None
        if stored is None:
            return None
        context = self._build(name, stored.chain_pem, stored.key_pem)
        if context is not None:
            self.loaded += 1
        return context

    def _build(self, name: str, chain_pem: str, key_pem: bytes) -> ssl.SSLContext | None:
        password = new_key_password()
        try:
            context = server_context(
                chain_pem, encrypt_private_key_pem(key_pem, password), password
            )
        except (TlsError, ValueError, TypeError):
            logger.exception("the certificate for %s does not load", name)
            return None
        remember_server_name(context)
        self._cache.put(name, context)
        return context

    async def _issue_once(self, name: str, served: ServedName) -> ssl.SSLContext | None:
        # Handshakes racing for one cold name share one issuance.
        task = self._issuing.get(name)
        if task is None:
            task = asyncio.create_task(self._issue(name, served), name=f"issue {name}")
            self._issuing[name] = task
            task.add_done_callback(lambda _: self._issuing.pop(name, None))
        return await asyncio.shield(task)

    async def _issue(self, name: str, served: ServedName) -> ssl.SSLContext | None:
        issuer = self._issuer_getter()
        if issuer is None:
            logger.warning("no issuer configured: refusing %s", name)
            return None
        if served.kind == "domain" and served.domain_id is None:
            assert served.tenant_id is not None  # a domain is always some tenant's
            domain_id = await issuable_domain_id(self._pool, tenant_id=served.tenant_id, name=name)
            if domain_id is None:
                return None
            served = ServedName("domain", tenant_id=served.tenant_id, domain_id=domain_id)
        try:
            stored = await issue_and_store(
                issuer,
                self._pool,
                self._sealer,
                tenant_id=served.tenant_id,
                domain_id=served.domain_id,
                names=[name],
            )
        except CertsError as error:
            logger.warning("no certificate for %s at handshake time: %s", name, error)
            return None
        self.issued += 1
        logger.info("issued a certificate for %s at handshake time", name)
        return self._build(name, stored.certificate.chain_pem, stored.certificate.key_pem)

    # Following changes.

    async def _follow_notifications(self) -> None:
        await follow_channel(
            self._pool,
            channel=CHANNEL,
            role="certificates",
            on_notify=self._notify,
            on_listen=self._start_afresh,
            health_check_seconds=self._health_check_seconds,
            retry_initial_seconds=self._retry_initial_seconds,
            retry_max_seconds=self._retry_max_seconds,
        )

    def _start_afresh(self) -> None:
        # Changes made while no one listened were never announced: start afresh.
        self._watermark = None
        self._changed.set()

    def _notify(self, *_: object) -> None:
        self._changed.set()

    async def _invalidate_on_change(self) -> None:
        pause = self._retry_initial_seconds
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                await self._invalidate_changed()
            except Exception:
                reraise_if_cancelled()
                logger.exception("certificate invalidation failed; retrying in %.1f s", pause)
                self._changed.set()
                await asyncio.sleep(pause)
                pause = min(pause * 2, self._retry_max_seconds)
            else:
                pause = self._retry_initial_seconds

    async def _invalidate_changed(self) -> None:
        changes = await self._store.changes_since(self._pool, self._watermark)
        if self._watermark is None or self._count is None or changes.total < self._count:
            # First look, a reconnect, or certificates deleted: nothing cached can be trusted.
            self._cache.clear()
        else:
            for name in changes.names:
                self._cache.invalidate(name)
        self._watermark = changes.checked_at
        self._count = changes.total


def _server_name(hello: ClientHello) -> str | None:
    """The SNI as a canonical DNS name, or None for no SNI or one that is no DNS name."""
    if hello.server_name is None:
        return None
    return canonical_server_name(hello.server_name)


def canonical_server_name(server_name: str) -> str | None:
    """An SNI value as the host index spells names (`normalise_host_name`); None if no name."""
    try:
        name = normalise_host_name(server_name)
    except InvalidHostName:
        return None
    if name.rsplit(".", 1)[-1].isdigit():
        return None  # RFC 6066 section 3: literal IP addresses are not permitted in SNI
    return name
