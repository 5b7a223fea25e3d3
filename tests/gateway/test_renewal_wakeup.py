"""The running renewal job picks up due subscriptions promptly: it sleeps until the next period
end and wakes on a NOTIFY, instead of polling (its longest sleep here is ten minutes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from gateway.jobs.renewals import RenewalJob
from gateway.tenants.registry import create_tenant
from kernel import clock
from kernel.background import stop_tasks
from tests.fixtures.localstripe import LocalStripe, localstripe  # noqa: F401
from tests.gateway.renewal_world import RenewalWorld, make_world

NO_POLL = 600.0  # seconds: a renewal seen within the test's few seconds was not a poll's


@pytest.fixture
async def world(pool: Any, localstripe: LocalStripe) -> RenewalWorld:  # noqa: F811
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak")
    return await make_world(pool, tenant, localstripe)


@pytest.fixture
async def running(world: RenewalWorld) -> AsyncIterator[RenewalJob]:
    job = world.job(interval=NO_POLL)
    task = asyncio.create_task(job.run())
    await asyncio.sleep(0.5)  # listening, one pass done, asleep
    try:
        yield job
    finally:
        await stop_tasks([task])


async def renewed_after(world: RenewalWorld, subscription_id: str, within: float) -> float:
    """Seconds until the subscription's first renewal invoice is paid; fails after `within` s."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        invoices = await world.invoices(subscription_id)
        if invoices and invoices[0]["status"] == "paid":
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    pytest.fail(f"not renewed within {within} s")


async def test_a_period_ending_in_two_seconds_renews_when_it_ends_without_a_poll(
    world: RenewalWorld, running: RenewalJob
) -> None:
    customer = await world.customer()
    ends_at = clock.utc_now() + timedelta(seconds=2)
    subscription = await world.subscribe(
        customer.id, start=ends_at - timedelta(days=1), interval="day"
    )
    assert (await world.subscription(subscription.id))["current_period_end"] == ends_at
    waited = await renewed_after(world, subscription.id, within=8.0)
    assert clock.utc_now() >= ends_at  # not renewed before its period ended
    assert waited < 6.0
    state = await world.subscription(subscription.id)
    assert state["current_period_start"] == ends_at
    assert state["current_period_end"] == ends_at + timedelta(days=1)


async def test_a_period_end_moved_earlier_is_picked_up_at_once(
    world: RenewalWorld, running: RenewalJob
) -> None:
    customer = await world.customer()
    subscription = await world.subscribe(customer.id, start=clock.utc_now() - timedelta(hours=1))
    await asyncio.sleep(0.5)  # the job saw it and sleeps until next month (at most NO_POLL)
    assert await world.invoices(subscription.id) == []
    await world.pool.execute(
        "UPDATE subscriptions SET current_period_end = now() WHERE tenant_id = $1 AND id = $2",
        world.tenant.id,
        subscription.id,
    )
    assert await renewed_after(world, subscription.id, within=5.0) < 3.0


async def test_the_sleep_lasts_until_the_earliest_due_moment(
    world: RenewalWorld, running: RenewalJob
) -> None:
    customer = await world.customer()
    assert await running.seconds_until_due() == NO_POLL  # nothing scheduled
    await world.subscribe(
        customer.id, start=clock.utc_now() - timedelta(days=1) + timedelta(hours=1), interval="day"
    )
    await world.subscribe(customer.id, start=clock.utc_now())
    assert 3500 < await running.seconds_until_due() <= 3600
