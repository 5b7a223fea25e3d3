"""The background worker that moves custom domains along their lifecycle on every replica.

Each pass claims the domains that are due (`lifecycle.claim_due`: a lease and
SKIP LOCKED, so replicas share the work without doing it twice) and advances
each one: DNS check, issuance as soon as it verifies, renewal, moves. Passes
run every few seconds and at once when a NOTIFY on the due channel arrives (a
domain was added anywhere in the cluster). Expired challenge answers are purged
now and then.

Tests call `run_due(now=...)` to drive one pass deterministically.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from aiohttp import web

from certs.challenges import ChallengeStore
from gateway.edge import keys
from gateway.tenants import lifecycle
from gateway.tenants.domains import DUE_CHANNEL
from gateway.tenants.lifecycle import LifecycleServices
from kernel import clock
from kernel.background import (
    reraise_if_cancelled,
    run_passes_on_notify,
    stop_tasks,
)

log = logging.getLogger(__name__)

PASS_INTERVAL = 5.0  # seconds between passes when nothing wakes the worker
BATCH = 20  # domains claimed per pass
CONCURRENCY = 4  # domains advanced at once (each ACME order holds a connection and a thread)
PURGE_INTERVAL = 600.0  # seconds between purges of expired challenge answers


class DomainWorker:
    """Advances due domains; `run` loops until cancelled, `run_due` does one pass."""

    def __init__(
        self,
        services: LifecycleServices,
        *,
        batch: int = BATCH,
        interval: float = PASS_INTERVAL,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.services = services
        self.batch = batch
        self.interval = interval
        self._slots = asyncio.Semaphore(concurrency)
        self._kick = asyncio.Event()
        self._last_purge: float | None = None

    def kick(self) -> None:
        """Run the next pass now instead of at the end of the interval."""
        self._kick.set()

    async def run_due(self, now: datetime | None = None) -> int:
        """Advance every domain due at `now` (default: the current time) once; how many were.

        A domain whose step fails unexpectedly is logged and retried when its lease ends.
        """
        now = now or clock.utc_now()
        await self._purge_challenges()
        claimed = await lifecycle.claim_due(self.services.pool, now=now, limit=self.batch)
        await asyncio.gather(*(self._advance(domain, now) for domain in claimed))
        return len(claimed)

    async def _advance(self, domain: Any, now: datetime) -> None:
        async with self._slots:
            try:
                await lifecycle.advance(self.services, domain, now=now)
            except Exception:
                reraise_if_cancelled()
                log.exception("domain %s: lifecycle step failed; retried later", domain.name)

    async def _purge_challenges(self) -> None:
        clock = asyncio.get_running_loop().time()
        if self._last_purge is not None and clock - self._last_purge < PURGE_INTERVAL:
            return
        self._last_purge = clock
        purged = await ChallengeStore().purge_expired(self.services.pool)
        if purged:
            log.info("purged %d expired challenge answers", purged)

    async def run(self) -> None:
        """Pass after pass until cancelled; a NOTIFY on the due channel starts one at once.

        Listening is `kernel.background.run_passes_on_notify`: it comes back after a
        database outage, and the passes go on polling meanwhile.
        """

        async def one_pass() -> bool:
            return await self.run_due() >= self.batch

        await run_passes_on_notify(
            self.services.pool,
            one_pass,
            channel=DUE_CHANNEL,
            role="domain worker",
            wake=self._kick,
            interval=self.interval,
        )


async def domain_worker_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: run a DomainWorker in the background; goes after the issuer's context."""
    services = LifecycleServices.build(
        pool=app[keys.POOL],
        sealer=app[keys.SEALER],
        settings=app[keys.SETTINGS],
        issuer=app[keys.ISSUER],
    )
    task = asyncio.create_task(DomainWorker(services).run(), name="domain-worker")
    try:
        yield
    finally:
        # Cancelled mid-query, asyncpg may complain about its connection state: nothing is
        # left half-done, every step is one guarded UPDATE.
        await stop_tasks([task])
