"""The outbox: an event exists exactly when the change it announces committed."""

from __future__ import annotations

from typing import Any

import pytest

from billing.outbox import list_events, record_event
from gateway.tenants.models import Tenant
from kernel.db import transaction


class Rollback(Exception):
    pass


async def test_an_event_recorded_in_a_committed_transaction_is_due_for_delivery(
    pool: Any, tenant: Tenant
) -> None:
    async with transaction(pool) as connection:
        event_id = await record_event(
            connection,
            tenant_id=tenant.id,
            type="wallet.credited",
            payload={"wallet": "wal_x", "amount": 500},
        )
    [event] = await list_events(pool, tenant_id=tenant.id, undelivered=True)
    assert event.id == event_id
    assert event_id.startswith("evt_")
    assert event.payload == {"wallet": "wal_x", "amount": 500}
    assert (event.attempts, event.delivered_at) == (0, None)


async def test_an_event_of_a_rolled_back_change_is_never_sent(pool: Any, tenant: Tenant) -> None:
    async def change_that_fails() -> None:
        async with transaction(pool) as connection:
            await record_event(
                connection, tenant_id=tenant.id, type="checkout.completed", payload={}
            )
            raise Rollback

    with pytest.raises(Rollback):
        await change_that_fails()
    assert await list_events(pool, tenant_id=tenant.id) == []


async def test_events_are_the_tenants_own(pool: Any, tenant: Tenant, other_tenant: Tenant) -> None:
    async with transaction(pool) as connection:
        await record_event(connection, tenant_id=tenant.id, type="checkout.completed", payload={})
    assert await list_events(pool, tenant_id=other_tenant.id) == []


async def test_an_unknown_event_type_is_a_programming_error(pool: Any, tenant: Tenant) -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        await record_event(pool, tenant_id=tenant.id, type="checkout.maybe", payload={})
