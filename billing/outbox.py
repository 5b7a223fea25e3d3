"""The transactional outbox: events for tenants, written in the same transaction as the change.

A change and its event commit together or not at all, so an event is never
announced for a change that rolled back, and never lost for one that committed.
`gateway.jobs.outbox_delivery` sends the rows to the tenant's webhook URL later and
retries until the tenant accepts them; a row is only marked, never deleted, on
delivery. `NOTIFY gateway_outbox` (sent at commit) wakes the delivery workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.db import Db
from kernel.ids import new_id

NOTIFY_CHANNEL = "gateway_outbox"
EVENT_TYPES = frozenset(
    {
        "checkout.completed",
        "invoice.paid",
        "payment_method.updated",
        "payment_method.default_changed",
        "subscription.updated",
        "wallet.credited",
        "customer.billing_info.updated",
        "invoice.created",
        "invoice.payment_failed",
        "subscription.renewed",
        "subscription.past_due",
        "subscription.canceled",
    }
)
EVENT_COLUMNS = (
    "id, tenant_id, type, payload, attempts, next_attempt_at, delivered_at, last_error, created_at"
)


@dataclass(frozen=True, kw_only=True)
class OutboundEvent:
    """One event for one tenant, as stored; `delivered_at` is None until the tenant took it."""

    id: str
    tenant_id: int
    type: str
    payload: dict[str, Any]
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> OutboundEvent:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


async def record_event(
    connection: Db, *, tenant_id: int, type: str, payload: Mapping[str, Any]
) -> str:
    """Add an event to the outbox in the caller's transaction; returns its id (`evt_...`).

    `payload` must be JSON-serialisable (ids, integers, strings, ISO timestamps).
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event_id = new_id("evt")
    await connection.execute(
        "INSERT INTO outbound_events (id, tenant_id, type, payload) VALUES ($1, $2, $3, $4)",
        event_id,
        tenant_id,
        type,
        dict(payload),
    )
    # Delivered at commit, dropped on rollback, like the row itself.
    await connection.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(tenant_id))
    return event_id


async def list_events(
    db: Db, *, tenant_id: int, type: str | None = None, undelivered: bool = False
) -> list[OutboundEvent]:
    """The tenant's events, oldest first (optionally of one type, or only those still due)."""
    rows = await db.fetch(
        f"SELECT {EVENT_COLUMNS} FROM outbound_events WHERE tenant_id = $1 "
        "AND ($2::text IS NULL OR type = $2) AND (NOT $3 OR delivered_at IS NULL) "
        "ORDER BY created_at, id",
        tenant_id,
        type,
        undelivered,
    )
    return [OutboundEvent.from_row(row) for row in rows]
