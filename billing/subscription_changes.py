"""A customer's own changes to a subscription: cancel at the end of the period, or resume.

Both keep the subscription until its current period ends, so nothing is
refunded or prorated: cancelling only stops the renewal, resuming restores it.
Each change is announced to the tenant as `subscription.updated` in the same
transaction. Another customer's subscription is NotFound, like an unknown one.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from billing.errors import Conflict, NotFound
from billing.outbox import record_event
from billing.subscriptions import Subscription, get_subscription
from kernel import clock
from kernel.db import Db, transaction

# Statuses a customer may cancel at period end (a canceled one is over; an
# incomplete one never started).
CANCELLABLE_STATUSES = frozenset({"trialing", "active", "past_due"})


class SubscriptionNotChangeable(Conflict):
    """The subscription is not in a state where this change makes sense (`status` says which)."""

    def __init__(self, status: str, *, cancel_at_period_end: bool) -> None:
        self.status = status
        self.cancel_at_period_end = cancel_at_period_end
        super().__init__(
            f"the subscription is {status}"
            + (" and set to cancel at period end" if cancel_at_period_end else ""),
            field="subscription",
        )


async def customer_subscription(
    db: Db, *, tenant_id: int, customer_id: str, subscription_id: str
) -> Subscription:
    """The customer's subscription with its items; NotFound for any other."""
    subscription = await get_subscription(db, tenant_id=tenant_id, subscription_id=subscription_id)
    if subscription.customer_id != customer_id:
        raise NotFound("subscription", subscription_id)
    return subscription


def can_cancel(subscription: Subscription, now: datetime | None = None) -> bool:
    """Whether the customer may set it to cancel at period end at `now`."""
    moment = now or clock.utc_now()
    return (
        subscription.status in CANCELLABLE_STATUSES
        and not subscription.cancel_at_period_end
        and subscription.current_period_end > moment
    )


def can_resume(subscription: Subscription, now: datetime | None = None) -> bool:
    """Whether a cancellation at period end may still be taken back at `now`."""
    moment = now or clock.utc_now()
    return (
        subscription.status != "canceled"
        and subscription.cancel_at_period_end
        and subscription.current_period_end > moment
    )


def subscription_payload(subscription: Subscription) -> dict[str, Any]:
    """What tenants receive in `subscription.updated` (JSON-ready)."""
    return {
        "subscription": subscription.id,
        "customer": subscription.customer_id,
        "status": subscription.status,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "current_period_end": subscription.current_period_end.isoformat(),
    }


async def _set_cancel_at_period_end(
    db: Db,
    *,
    tenant_id: int,
    customer_id: str,
    subscription_id: str,
    cancel: bool,
    now: datetime | None,
) -> Subscription:
    moment = now or clock.utc_now()
    current = await customer_subscription(
        db, tenant_id=tenant_id, customer_id=customer_id, subscription_id=subscription_id
    )
    allowed = can_cancel(current, moment) if cancel else can_resume(current, moment)
    if not allowed:
        raise SubscriptionNotChangeable(
            current.status, cancel_at_period_end=current.cancel_at_period_end
        )
    async with transaction(db) as connection:
        # The condition repeats the check, so of two clicks at once only one changes the row.
        row = await connection.fetchrow(
            "UPDATE subscriptions SET cancel_at_period_end = $4, updated_at = now() "
            "WHERE tenant_id = $1 AND customer_id = $2 AND id = $3 "
            "AND status <> 'canceled' AND cancel_at_period_end = NOT $4 "
            "AND current_period_end > $5 RETURNING status, cancel_at_period_end, updated_at",
            tenant_id,
            customer_id,
            subscription_id,
            cancel,
            moment,
        )
        if row is None:
            raise SubscriptionNotChangeable(
                current.status, cancel_at_period_end=current.cancel_at_period_end
            )
        changed = dataclasses.replace(
            current,
            status=row["status"],
            cancel_at_period_end=row["cancel_at_period_end"],
            updated_at=row["updated_at"],
        )
        await record_event(
            connection,
            tenant_id=tenant_id,
            type="subscription.updated",
            payload=subscription_payload(changed),
        )
    return changed


async def cancel_at_period_end(
    db: Db, *, tenant_id: int, customer_id: str, subscription_id: str, now: datetime | None = None
) -> Subscription:
    """Stop the renewal: the subscription stays until its current period ends.

    SubscriptionNotChangeable when it is over, already set to end, or not started.
    """
    return await _set_cancel_at_period_end(
        db,
        tenant_id=tenant_id,
        customer_id=customer_id,
        subscription_id=subscription_id,
        cancel=True,
        now=now,
    )


async def resume(
    db: Db, *, tenant_id: int, customer_id: str, subscription_id: str, now: datetime | None = None
) -> Subscription:
    """Take back a cancellation at period end before the period is over: it renews again.

    SubscriptionNotChangeable when it was not set to end, or has already ended.
    """
    return await _set_cancel_at_period_end(
        db,
        tenant_id=tenant_id,
        customer_id=customer_id,
        subscription_id=subscription_id,
        cancel=False,
        now=now,
    )
