"""Undoing payments: cancel a PaymentIntent still waiting, refund one that was paid twice.

Checkout uses these to keep "one session, one charge" true for money as well as
for rows: a PaymentIntent a stale tab left waiting for 3-D Secure is canceled,
and one that succeeded anyway for an already paid session is refunded.
`StripeRefunds` is `billing.stripe_gateway.StripePayments` (tenant key, API
base, errors in words) with the refund calls added; every call waits on the
network (the SDK's async methods); nothing needs cleaning up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from billing.stripe_gateway import PaymentIntentState, StripePayments

# PaymentIntent states Stripe lets us cancel: nothing has been captured yet.
CANCELABLE_STATUSES = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
)


@dataclass(frozen=True, kw_only=True)
class RefundState:
    id: str
    payment_intent_id: str | None
    amount: int
    currency: str
    status: str
    metadata: Mapping[str, str]


class PaymentRefunds(Protocol):
    """Cancel and refund PaymentIntents. Every call may block on the network."""

    async def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentState: ...

    async def cancel_payment_intent(self, payment_intent_id: str) -> PaymentIntentState:
        """Cancel an intent not yet paid; PaymentFailed when Stripe refuses (paid meanwhile)."""
        ...

    async def refunds_of(self, payment_intent_id: str) -> list[RefundState]:
        """The refunds already made for a PaymentIntent, newest first."""
        ...

    async def refund_payment_intent(
        self, payment_intent_id: str, *, idempotency_key: str, metadata: Mapping[str, str]
    ) -> RefundState:
        """Refund the whole amount. Callers check `refunds_of` first: localstripe ignores keys."""
        ...


def _refund(refund: Any) -> RefundState:
    intent = refund.payment_intent
    return RefundState(
        id=str(refund.id),
        payment_intent_id=intent if intent is None or isinstance(intent, str) else str(intent.id),
        amount=int(refund.amount),
        currency=str(refund.currency).upper(),
        status=str(refund.status),
        metadata={
            str(key): str(value)
            for key, value in (refund.metadata.to_dict() if refund.metadata else {}).items()
        },
    )


class StripeRefunds(StripePayments):
    """`PaymentRefunds` through the `stripe` SDK: `StripePayments` (same client, same
    error mapping, its retrieve and cancel) plus the refund calls."""

    async def refunds_of(self, payment_intent_id: str) -> list[RefundState]:
        listing = await self._call(
            lambda client: client.v1.refunds.list_async(
                params={"payment_intent": payment_intent_id, "limit": 100}
            )
        )
        return [_refund(refund) for refund in listing.data]

    async def refund_payment_intent(
        self, payment_intent_id: str, *, idempotency_key: str, metadata: Mapping[str, str]
    ) -> RefundState:
        refund = await self._call(
            lambda client: client.v1.refunds.create_async(
                params={"payment_intent": payment_intent_id, "metadata": dict(metadata)},
                options={"idempotency_key": idempotency_key},
            )
        )
        return _refund(refund)
