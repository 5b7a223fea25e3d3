"""The background job that keeps every subscription current: renew, collect, dun, reconcile.

Each pass settles charges left pending by a dead process (`reconcile_next`), renews
every subscription whose period is over (`renew_next_due`, one period per step, so a
gateway that was down catches up period by period) and collects every invoice whose
charge is due (`collect_next`: wallet, then the default card, then the dunning
schedule). Every step claims its row with `FOR UPDATE SKIP LOCKED` in its own
transaction, so replicas share the work and never do one step twice.

Between passes the job sleeps until the next moment something falls due (a period
end, a dunning retry, a charge lease running out: `billing.renewal_schedule`), at
most `MAX_SLEEP` seconds, and wakes at once on a NOTIFY on `DUE_CHANNEL`, which
migration 0013's triggers send when a subscription or an invoice's next charge
becomes due earlier than before. A subscription whose period ends in two seconds
renews two seconds later, not at the next poll.

Tests call `run_due(now=...)` to drive one pass with a clock they control.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from aiohttp import web

from billing.collection import OffSessionCharger, collect_next
from billing.collection_reconciliation import reconcile_next
from billing.dunning import CollectionPolicy
from billing.renewal_schedule import next_due_at
from billing.renewals import renew_next_due
from billing.stripe_collection import CollectionPayments
from gateway.database.pool import open_pool
from gateway.edge import keys
from gateway.ops.metrics import METRICS
from gateway.tenants.registry import get_tenant, stripe_secret_key
from kernel import clock
from kernel.background import run_passes_on_notify, stop_tasks
from kernel.db import Connection, Pool
from kernel.sealing import Sealer

DUE_CHANNEL = "gateway_renewals_due"
# The longest sleep between passes: a safety net for a NOTIFY lost while nobody listened
# (listening again starts a pass anyway). Otherwise the job sleeps until the next due moment.
MAX_SLEEP = 60.0
# Something due but not taken (a twin replica holds its row): look again after this long.
BUSY_ROW_PAUSE = 0.25
BATCH = 200  # steps of each kind per pass, so one kind never starves the others
# Steps run at once. A lane holds a pool connection for its SQL only, never while Stripe
# answers (the charge sits between two transactions), so lanes mostly wait on the network.
CONCURRENCY = 8
# Steps run at once while the worker serves requests: the job's Python work shares the
# pages' event loop, and 8 lanes took half of it (portal p99 3x idle; bench/notes.md).
CONCURRENCY_WHILE_SERVING = 1
# How often a waiting lane looks again whether the requests have gone.
GIVE_WAY_SECONDS = 0.02


class RenewalCounters(Protocol):
    """Where the job counts what it did (gateway.ops.metrics.GatewayMetrics is one)."""

    def count_renewal(self, outcome: str) -> None: ...
    def count_collection(self, outcome: str) -> None: ...


@dataclass(kw_only=True)
class PassTotals:
    """What one pass did, by step and outcome."""

    renewals: dict[str, int] = field(default_factory=dict)
    collections: dict[str, int] = field(default_factory=dict)
    reconciliations: dict[str, int] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return sum(
            sum(kind.values()) for kind in (self.renewals, self.collections, self.reconciliations)
        )


class TenantBilling:
    """Each tenant's collection policy and Stripe client, read once per pass."""

    def __init__(self, lookups: Connection, sealer: Sealer, *, stripe_api_base: str) -> None:
        # Lookups are made while a lane holds a pool connection in a transaction. They get
        # a connection of their own, taken before the lanes start: waiting for the pool
        # there would deadlock once every pooled connection is held by a lane.
        self._lookups = lookups
        self._lock = asyncio.Lock()
        self._sealer = sealer
        self._api_base = stripe_api_base
        self._policies: dict[int, CollectionPolicy] = {}
        self._chargers: dict[int, OffSessionCharger | None] = {}

    async def policy_for(self, tenant_id: int) -> CollectionPolicy:
        async with self._lock:
            if tenant_id not in self._policies:
                tenant = await get_tenant(self._lookups, tenant_id)
                self._policies[tenant_id] = tenant.dunning
        return self._policies[tenant_id]

    async def charger_for(self, tenant_id: int) -> OffSessionCharger | None:
        async with self._lock:
            if tenant_id not in self._chargers:
                key = await stripe_secret_key(self._lookups, self._sealer, tenant_id=tenant_id)
                charger = (
                    None
                    if key is None
                    else CollectionPayments(
                        api_key=key, api_base=self._api_base, reuse_connections=True
                    )
                )
                self._chargers[tenant_id] = charger
        return self._chargers[tenant_id]

    async def close(self) -> None:
        """Close the chargers' kept connections (at the end of a pass)."""
        for charger in self._chargers.values():
            if isinstance(charger, CollectionPayments):
                await charger.close()


ChargerFactory = Callable[[TenantBilling, int], Awaitable[OffSessionCharger | None]]


class RenewalJob:
    """Renews and collects; `run` loops until cancelled, `run_due` does one pass."""

    def __init__(
        self,
        pool: Pool,
        sealer: Sealer,
        *,
        stripe_api_base: str,
        counters: RenewalCounters | None = None,
        charger_for: ChargerFactory | None = None,
        batch: int = BATCH,
        concurrency: int = CONCURRENCY,
        interval: float = MAX_SLEEP,
        serving: Callable[[], bool] | None = None,
    ) -> None:
        self.pool = pool
        self.sealer = sealer
        self.stripe_api_base = stripe_api_base
        self.counters = counters
        # Tests swap the provider (a declining card, a crash after the charge).
        self._charger_for = charger_for
        self.batch = batch
        self.concurrency = concurrency
        self.interval = interval
        # Whether the worker is serving requests now (gateway.ops.requests_in_flight).
        self.serving = serving or (lambda: False)
        self._kick = asyncio.Event()

    def kick(self) -> None:
        """Run the next pass now instead of at the end of the interval."""
        self._kick.set()

    async def run_due(self, now: datetime | None = None) -> PassTotals:
        """One pass at `now` (default: the current time): reconcile, renew, collect."""
        now = now or clock.utc_now()
        async with self.pool.acquire() as lookups:
            tenants = TenantBilling(lookups, self.sealer, stripe_api_base=self.stripe_api_base)
            try:
                return await self._pass(tenants, now)
            finally:
                await tenants.close()

    async def _pass(self, tenants: TenantBilling, now: datetime) -> PassTotals:

        async def charger_for(tenant_id: int) -> OffSessionCharger | None:
            if self._charger_for is not None:
                return await self._charger_for(tenants, tenant_id)
            return await tenants.charger_for(tenant_id)

        totals = PassTotals()

        async def reconcile() -> str | None:
            done = await reconcile_next(
                self.pool, now=now, policy_for=tenants.policy_for, charger_for=charger_for
            )
            return None if done is None else done.outcome

        async def renew() -> str | None:
            done = await renew_next_due(self.pool, now=now)
            return None if done is None else done.outcome

        async def collect() -> str | None:
            done = await collect_next(
                self.pool, now=now, policy_for=tenants.policy_for, charger_for=charger_for
            )
            return None if done is None else done.outcome

        await self._drain(reconcile, totals.reconciliations)
        await self._drain(renew, totals.renewals)
        await self._drain(collect, totals.collections)
        self._count(totals)
        return totals

    async def _drain(
        self, step: Callable[[], Awaitable[str | None]], outcomes: dict[str, int]
    ) -> None:
        """Run `step` on `concurrency` lanes until none finds work or the batch is spent."""
        budget = [self.batch]
        stepping = [0]  # lanes neither finished nor waiting their turn

        async def give_way() -> None:
            # The pages first; one lane keeps renewing. Polled: nothing is woken per
            # request (gateway.ops.requests_in_flight). With no lane stepping, this one
            # steps, so a pass still ends when the work does.
            stepping[0] -= 1
            try:
                while budget[0] > 0 and stepping[0] > 0 and self.serving():  # noqa: ASYNC110
                    await asyncio.sleep(GIVE_WAY_SECONDS)
            finally:
                stepping[0] += 1

        async def lane(number: int) -> None:
            stepping[0] += 1
            try:
                while budget[0] > 0:
                    if number >= CONCURRENCY_WHILE_SERVING and self.serving():
                        await give_way()
                        if budget[0] <= 0:
                            return
                    budget[0] -= 1
                    outcome = await step()
                    if outcome is None:
                        return
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
            finally:
                stepping[0] -= 1

        await asyncio.gather(*(lane(number) for number in range(self.concurrency)))

    def _count(self, totals: PassTotals) -> None:
        if self.counters is None:
            return
        for outcome, number in totals.renewals.items():
            for _ in range(number):
                self.counters.count_renewal(outcome)
        for outcome, number in totals.collections.items():
            for _ in range(number):
                self.counters.count_collection(outcome)

    async def seconds_until_due(self) -> float:
        """How long the job may sleep: until the next due moment (`interval` if none)."""
        due = await next_due_at(self.pool)
        if due is None:
            return self.interval
        seconds = (due - clock.utc_now()).total_seconds()
        return seconds if seconds > 0 else BUSY_ROW_PAUSE

    async def run(self) -> None:
        """Pass after pass until cancelled, sleeping until the next due moment (at most
        `interval`); a NOTIFY on DUE_CHANNEL starts one at once."""

        async def one_pass() -> bool:
            return (await self.run_due()).steps >= self.batch

        await run_passes_on_notify(
            self.pool,
            one_pass,
            channel=DUE_CHANNEL,
            role="renewal job",
            wake=self._kick,
            interval=self.interval,
            next_wait=self.seconds_until_due,
        )


async def renewal_job_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: run a RenewalJob in the background; goes after the pool and the metrics.

    The job has a pool of its own: a batch of due subscriptions once took every
    connection of the requests' pool, and the portal's p99 went from 4 to 38 ms
    (bench/notes.md). It opens connections as the job needs them.
    """
    settings = app[keys.SETTINGS]
    pool = await open_pool(
        app[keys.DATABASE_URL],
        min_size=0,
        max_size=settings.db_job_pool_max,
        command_timeout=settings.db_command_timeout,
    )
    app[keys.RENEWAL_POOL] = pool
    job = RenewalJob(
        pool,
        app[keys.SEALER],
        stripe_api_base=settings.stripe_api_base,
        counters=app.get(METRICS),
        serving=app[keys.IN_FLIGHT].busy,
    )
    task = asyncio.create_task(job.run(), name="renewal-job")
    try:
        yield
    finally:
        # Every step is a transaction of its own: cut mid-step, nothing is left half-done,
        # and a charge cut after it reached Stripe is reconciled by its key later.
        await stop_tasks([task])
        await pool.close()
