"""Delivering outbox events to tenants' webhooks, as a tenant's receiver observes it.

A real aiohttp receiver on 127.0.0.1 records what arrives: signed bodies, one
accepted delivery per event even when attempts fail, replicas that never send
one event twice at once, and rows that survive a crash mid-delivery. The
receiver is on loopback, so these workers run with the loopback setting on
(GATEWAY_WEBHOOK_ALLOW_LOOPBACK); tests/gateway/test_webhook_client.py shows
what is refused with it off.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from billing.outbox import record_event
from gateway.jobs.outbox_delivery import OutboxDelivery, backoff_seconds
from gateway.settings import Settings
from gateway.tenants.models import Tenant
from gateway.tenants.registry import create_tenant, rotate_webhook_secret, update_settings
from kernel.db import transaction
from kernel.sealing import Sealer
from tests.conftest import eventually


@dataclass
class Receiver:
    url: str
    requests: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to give first, then 200
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.requests]


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    found = Receiver(url="")

    async def handle(request: web.Request) -> web.Response:
        found.requests.append((await request.read(), dict(request.headers)))
        found.arrived.set()
        await asyncio.sleep(0.05)  # long enough for a twin worker to try to claim the row
        return web.Response(status=found.answers.pop(0) if found.answers else 200)

    app = web.Application()
    app.router.add_post("/events", handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    found.url = f"http://127.0.0.1:{server.port}/events"
    return found


@dataclass
class Subscribed:
    tenant: Tenant
    secret: str
    sealer: Sealer


@pytest.fixture
async def subscribed(pool: Any, settings: Settings, receiver: Receiver) -> Subscribed:
    assert settings.kek is not None
    sealer = Sealer(settings.kek)
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak")
    tenant = await update_settings(
        pool,
        tenant_id=tenant.id,
        changes={"webhook_url": receiver.url},
        allow_loopback_webhooks=True,
    )
    secret = await rotate_webhook_secret(pool, sealer, tenant_id=tenant.id)
    return Subscribed(tenant, secret, sealer)


async def events(pool: Any, tenant_id: int, count: int) -> list[str]:
    ids = []
    async with transaction(pool) as connection:
        for number in range(count):
            ids.append(
                await record_event(
                    connection,
                    tenant_id=tenant_id,
                    type="wallet.credited",
                    payload={"number": number},
                )
            )
    return ids


def signature_is_valid(body: bytes, header: str, secret: str) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


def worker(pool: Any, subscribed: Subscribed, **options: Any) -> OutboxDelivery:
    return OutboxDelivery(pool, subscribed.sealer, allow_loopback=True, **options)


async def make_due(pool: Any) -> None:
    """Time passes: every retry that was waiting is due now."""
    await pool.execute(
        "UPDATE outbound_events SET next_attempt_at = now() WHERE delivered_at IS NULL"
    )


async def test_an_event_arrives_signed_with_the_tenants_secret_and_its_id(
    pool: Any, subscribed: Subscribed, receiver: Receiver
) -> None:
    [event_id] = await events(pool, subscribed.tenant.id, 1)
    delivery = worker(pool, subscribed)
    try:
        [result] = await delivery.run_due()
    finally:
        await delivery.close()
    assert result.delivered
    [(body, headers)] = receiver.requests
    assert headers["Gateway-Event-Id"] == event_id
    assert headers["Content-Type"] == "application/json"
    assert signature_is_valid(body, headers["Gateway-Signature"], subscribed.secret)
    assert not signature_is_valid(body, headers["Gateway-Signature"], "whsec_other")
    document = json.loads(body)
    assert (document["id"], document["type"], document["data"]) == (
        event_id,
        "wallet.credited",
        {"number": 0},
    )
    delivered = await pool.fetchval("SELECT delivered_at FROM outbound_events")
    assert delivered is not None


async def test_a_failed_attempt_is_retried_later_and_delivered_once(
    pool: Any, subscribed: Subscribed, receiver: Receiver
) -> None:
    receiver.answers = [500]
    await events(pool, subscribed.tenant.id, 1)
    delivery = worker(pool, subscribed)
    try:
        [first] = await delivery.run_due()
        assert not first.delivered
        assert "500" in (first.error or "")
        row = await pool.fetchrow(
            "SELECT attempts, last_error, next_attempt_at > now() AS later FROM outbound_events"
        )
        assert (row["attempts"], row["later"]) == (1, True)
        assert await delivery.run_due() == []  # not due yet: backoff
        await make_due(pool)
        [second] = await delivery.run_due()
        assert second.delivered
        await make_due(pool)
        assert await delivery.run_due() == []
    finally:
        await delivery.close()
    ids = [document["id"] for document in receiver.bodies()]
    assert len(ids) == 2
    assert ids[0] == ids[1]


async def test_an_unreachable_endpoint_keeps_the_event_for_later(
    pool: Any, subscribed: Subscribed
) -> None:
    await update_settings(
        pool,
        tenant_id=subscribed.tenant.id,
        changes={"webhook_url": "http://127.0.0.1:9/x"},
        allow_loopback_webhooks=True,
    )
    await events(pool, subscribed.tenant.id, 1)
    delivery = worker(pool, subscribed, timeout_seconds=2.0)
    try:
        [result] = await delivery.run_due()
    finally:
        await delivery.close()
    assert not result.delivered
    row = await pool.fetchrow("SELECT delivered_at, last_error FROM outbound_events")
    assert row["delivered_at"] is None
    assert row["last_error"]


async def test_two_replicas_working_at_once_send_each_event_once(
    pool: Any, subscribed: Subscribed, receiver: Receiver
) -> None:
    await events(pool, subscribed.tenant.id, 12)
    first, second = worker(pool, subscribed, batch_size=4), worker(pool, subscribed, batch_size=4)
    try:
        for _ in range(4):
            await asyncio.gather(first.run_due(), second.run_due())
    finally:
        await first.close()
        await second.close()
    ids = [document["id"] for document in receiver.bodies()]
    assert len(ids) == len(set(ids)) == 12
    assert (
        await pool.fetchval("SELECT count(*) FROM outbound_events WHERE delivered_at IS NULL") == 0
    )


async def test_an_event_claimed_by_a_replica_that_crashed_is_delivered_after_its_lease(
    pool: Any, subscribed: Subscribed, receiver: Receiver
) -> None:
    await events(pool, subscribed.tenant.id, 1)
    crashed = worker(pool, subscribed)
    claimed = await crashed._claim()  # the replica dies right after claiming
    assert len(claimed) == 1
    survivor = worker(pool, subscribed)
    try:
        assert await survivor.run_due() == []  # still leased to the dead replica
        await make_due(pool)  # the lease runs out
        [result] = await survivor.run_due()
    finally:
        await survivor.close()
        await crashed.close()
    assert result.delivered
    assert len(receiver.requests) == 1


async def test_events_wait_while_the_tenant_has_no_webhook_url(
    pool: Any, subscribed: Subscribed, receiver: Receiver
) -> None:
    await update_settings(pool, tenant_id=subscribed.tenant.id, changes={"webhook_url": None})
    await events(pool, subscribed.tenant.id, 1)
    delivery = worker(pool, subscribed)
    try:
        assert await delivery.run_due() == []
        await update_settings(
            pool,
            tenant_id=subscribed.tenant.id,
            changes={"webhook_url": receiver.url},
            allow_loopback_webhooks=True,
        )
        [result] = await delivery.run_due()
    finally:
        await delivery.close()
    assert result.delivered


async def test_the_background_worker_delivers_soon_after_the_change_commits(
    pool: Any, subscribed: Subscribed, receiver: Receiver
) -> None:
    delivery = worker(pool, subscribed, poll_seconds=60.0)
    task = asyncio.create_task(delivery.run_forever())
    try:
        await asyncio.sleep(0.2)  # the worker is now waiting for a notification
        [event_id] = await events(pool, subscribed.tenant.id, 1)
        await asyncio.wait_for(receiver.arrived.wait(), timeout=20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await delivery.close()
    assert [document["id"] for document in receiver.bodies()] == [event_id]


async def listener_pids(pool: Any) -> list[int]:
    rows = await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'gateway outbox delivery'"
    )
    return [row["pid"] for row in rows]


async def test_after_its_listening_connection_is_lost_the_worker_still_delivers_soon(
    pool: Any, subscribed: Subscribed, receiver: Receiver
) -> None:
    delivery = worker(pool, subscribed, poll_seconds=3600.0)
    task = asyncio.create_task(delivery.run_forever())
    try:
        [lost] = await eventually(lambda: listener_pids(pool), bool, within=30)
        await pool.execute("SELECT pg_terminate_backend($1)", lost)
        await eventually(
            lambda: listener_pids(pool), lambda pids: bool(pids) and lost not in pids, within=30
        )
        [event_id] = await events(pool, subscribed.tenant.id, 1)
        await asyncio.wait_for(receiver.arrived.wait(), timeout=20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await delivery.close()
    assert [document["id"] for document in receiver.bodies()] == [event_id]


@pytest.mark.parametrize(
    ("attempts", "expected"), [(1, 30.0), (2, 60.0), (5, 480.0), (40, 86400.0)]
)
def test_retries_back_off_exponentially_up_to_a_day(attempts: int, expected: float) -> None:
    assert backoff_seconds(attempts, base=30.0, maximum=86400.0) == expected
