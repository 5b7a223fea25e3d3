"""The host index: canonical host name -> tenant, in memory, refreshed on NOTIFY gateway_hosts.

Besides the names served, it knows the custom domains proven and verified but
still waiting for their first certificate (an ACME challenge for them may be in
flight), so the TLS listener can refuse every other name without a query.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg

from gateway.tenants.models import TENANT_COLUMNS, Tenant
from kernel.background import (
    RETRY_INITIAL_SECONDS,
    RETRY_MAX_SECONDS,
    follow_channel,
    reraise_if_cancelled,
    stop_tasks,
)
from kernel.db import Connection

logger = logging.getLogger(__name__)

CHANNEL = "gateway_hosts"
# Domains in these states have a certificate and are served.
SERVED_DOMAIN_STATUSES = ("active", "renewing")
# Domains in these states are proven and verified, and get their first certificate now.
AWAITING_DOMAIN_STATUSES = ("verified", "issuing")


class HostIndex:
    """Which tenant a canonical host belongs to: `<slug>.<base domain>` and served custom domains.

    `lookup` touches memory only. `load` replaces the whole map from PostgreSQL.
    `listen` starts a background task that holds one pool connection with
    LISTEN gateway_hosts and reloads shortly after each change (changes that
    arrive together cause one reload); a failed reload is logged and retried,
    a lost connection is replaced with growing pauses, and every (re)connect
    reloads, because notifications sent while disconnected are lost.
    `close` stops the task and must be called before the pool closes.
    """

    def __init__(
        self,
        *,
        base_domain: str,
        debounce_seconds: float = 0.1,
        retry_initial_seconds: float = RETRY_INITIAL_SECONDS,
        retry_max_seconds: float = RETRY_MAX_SECONDS,
        health_check_seconds: float = 30.0,
    ) -> None:
        self.base_domain = base_domain
        self._debounce_seconds = debounce_seconds
        self._retry_initial_seconds = retry_initial_seconds
        self._retry_max_seconds = retry_max_seconds
        self._health_check_seconds = health_check_seconds
        self._hosts: Mapping[str, Tenant] = {}
        self._awaiting: Mapping[str, Tenant] = {}
        # Tenant id -> (digest of its row as loaded, its object), reused by the next load.
        self._tenants: dict[int, tuple[str, Tenant]] = {}
        self._reloaded = asyncio.Event()
        self._changed = asyncio.Event()
        self._listening = asyncio.Event()
        self._loaded = False
        # Loads begun so far, and how many had begun when the last change was announced:
        # a load begun after that announcement reads a snapshot that includes the change.
        self._loads_begun = 0
        self._loads_begun_at_change = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def loaded(self) -> bool:
        """Whether a first load has completed (readiness)."""
        return self._loaded

    def __len__(self) -> int:
        return len(self._hosts)

    def lookup(self, host: str) -> Tenant | None:
        """The tenant served at canonical `host`, or None. No I/O."""
        return self._hosts.get(host)

    def awaiting_certificate(self, host: str) -> Tenant | None:
        """The tenant of custom domain `host` if it is verified but not served yet. No I/O."""
        return self._awaiting.get(host)

    async def wait_for_reload(self, seconds: float) -> bool:
        """Wait up to `seconds` for the next reload; whether one happened."""
        event = self._reloaded
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def default_host(self, tenant: Tenant) -> str:
        """The host every tenant has: `<slug>.<base domain>`."""
        return f"{tenant.slug}.{self.base_domain}"

    async def start(self, pool: asyncpg.Pool[Any], *, listen_wait_seconds: float = 5.0) -> None:
        """Listen, then load: start-up's way, which needs no second load right after.

        The first LISTEN wants a reload for changes nobody announced; a load begun
        after it satisfies that, so at a million domains the map is built once at
        start-up instead of twice (bench/notes.md). Should listening not start within
        `listen_wait_seconds`, the index loads anyway and reloads once it does.
        """
        await self.listen(pool)
        try:
            await asyncio.wait_for(self._listening.wait(), listen_wait_seconds)
        except TimeoutError:
            logger.warning("host index: not listening yet; loading, and again once listening")
        await self.load(pool)

    async def load(self, pool: asyncpg.Pool[Any]) -> None:
        """Replace the map with the tenants and served domains now in PostgreSQL.

        Sized for a million domains (issue 17): domain names arrive as one
        space-joined string per tenant and state (a row per tenant, not per
        name), and a tenant whose row digest is unchanged since the last load
        keeps its object, so a reload builds only the tenants that changed.
        """
        self._loads_begun += 1
        async with (
            pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            tenants = await self._load_tenants(connection)
            domain_rows = await connection.fetch(
                """SELECT tenant_id, status = ANY($2::text[]) AS served,
                          string_agg(name, ' ') AS names
                   FROM domains
                   WHERE status = ANY($1::text[]) AND proven_at IS NOT NULL
                   GROUP BY tenant_id, served""",
                [*SERVED_DOMAIN_STATUSES, *AWAITING_DOMAIN_STATUSES],
                list(SERVED_DOMAIN_STATUSES),
            )
        hosts: dict[str, Tenant] = {}
        awaiting: dict[str, Tenant] = {}
        for row in domain_rows:
            tenant = tenants.get(row["tenant_id"])
            if tenant is not None:
                # Canonical names hold no spaces (hostnames.normalise_host_name).
                names = dict.fromkeys(row["names"].split(" "), tenant)
                (hosts if row["served"] else awaiting).update(names)
        del domain_rows
        # The default subdomain wins over a custom domain that claims the same name.
        for tenant in tenants.values():
            hosts[self.default_host(tenant)] = tenant
        self._hosts = hosts
        self._awaiting = awaiting
        self._loaded = True
        # Wake whoever waits for this reload; later waiters wait for the next one.
        reloaded, self._reloaded = self._reloaded, asyncio.Event()
        reloaded.set()
        logger.debug("host index loaded: %d hosts", len(hosts))

    async def _load_tenants(self, connection: Connection) -> dict[int, Tenant]:
        """Every tenant by id: unchanged ones (same row digest) reused, the others read."""
        digests = await connection.fetch(
            f"SELECT id, md5(ROW({TENANT_COLUMNS})::text) AS digest FROM tenants"
        )
        previous = self._tenants
        current: dict[int, tuple[str, Tenant]] = {}
        changed: list[int] = []
        for row in digests:
            known = previous.get(row["id"])
            if known is not None and known[0] == row["digest"]:
                current[row["id"]] = known
            else:
                changed.append(row["id"])
        digest_of = {row["id"]: row["digest"] for row in digests} if changed else {}
        del digests
        if changed:
            for row in await connection.fetch(
                f"SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ANY($1::bigint[])", changed
            ):
                current[row["id"]] = (digest_of[row["id"]], Tenant.from_row(row))
        self._tenants = current
        return {tenant_id: tenant for tenant_id, (_, tenant) in current.items()}

    async def listen(self, pool: asyncpg.Pool[Any]) -> None:
        """Start following changes in the background (see the class docstring)."""
        if self._tasks:
            raise RuntimeError("the host index is already listening")
        if pool.get_max_size() < 2:
            # The listener keeps one connection; reloads and requests need another.
            raise ValueError("the host index needs a database pool of at least 2 connections")
        self._tasks = [
            asyncio.create_task(self._follow_notifications(pool), name="host index listener"),
            asyncio.create_task(self._reload_on_change(pool), name="host index reloader"),
        ]

    async def close(self) -> None:
        """Stop listening and give the connection back to the pool."""
        tasks, self._tasks = self._tasks, []
        await stop_tasks(tasks)

    def _notify(self, *_: object) -> None:
        self._loads_begun_at_change = self._loads_begun
        self._changed.set()

    def _on_listen(self) -> None:
        # Changes made while no one was listening were never announced: reload, unless
        # a load begins after this (start-up's first load does).
        self._listening.set()
        self._notify()

    async def _follow_notifications(self, pool: asyncpg.Pool[Any]) -> None:
        await follow_channel(
            pool,
            channel=CHANNEL,
            role="host index",
            on_notify=self._notify,
            on_listen=self._on_listen,
            health_check_seconds=self._health_check_seconds,
            retry_initial_seconds=self._retry_initial_seconds,
            retry_max_seconds=self._retry_max_seconds,
        )

    async def _reload_on_change(self, pool: asyncpg.Pool[Any]) -> None:
        pause = self._retry_initial_seconds
        while True:
            await self._changed.wait()
            # Coalesce a burst (one statement per row in a migration, say) into one reload.
            await asyncio.sleep(self._debounce_seconds)
            self._changed.clear()
            if self._loads_begun > self._loads_begun_at_change:
                continue  # a load begun after the last change has read it
            try:
                await self.load(pool)
            except Exception:
                reraise_if_cancelled()
                logger.exception("host index reload failed; retrying in %.1f s", pause)
                self._notify()  # the failed load read nothing: another one is needed
                await asyncio.sleep(pause)
                pause = min(pause * 2, self._retry_max_seconds)
            else:
                pause = self._retry_initial_seconds
