"""Undoing payments: cancel a PaymentIntent still waiting, refund one that was paid twice.

Checkout uses these to keep "one session, one charge" true for money as well as
for rows: a PaymentIntent a stale tab left waiting for 3-D Secure is canceled,
and one that succeeded anyway for an already paid session is refunded.
`StripeRefunds` builds its `stripe.StripeClient` exactly as
`billing.stripe_gateway.StripePayments` does (tenant key, API base); every call
blocks on the network and runs in a worker thread; nothing needs cleaning up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import stripe

from billing.stripe_gateway import (
    DEFAULT_API_BASE,
    PaymentIntentState,
    _payment_intent,
    payment_failure,
)

T = TypeVar("T")

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


class StripeRefunds:
    """`PaymentRefunds` through the `stripe` SDK, for one tenant's secret key and API base."""

    def __init__(self, *, api_key: str, api_base: str = DEFAULT_API_BASE) -> None:
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")},
            max_network_retries=2,
        )

    async def _call(self, function: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(function)
        except stripe.StripeError as error:
            raise payment_failure(error) from error

    async def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentState:
        intent = await self._call(
            lambda: self._client.v1.payment_intents.retrieve(payment_intent_id)
        )
        return _payment_intent(intent)

    async def cancel_payment_intent(self, payment_intent_id: str) -> PaymentIntentState:
        intent = await self._call(lambda: self._client.v1.payment_intents.cancel(payment_intent_id))
        return _payment_intent(intent)

    async def refunds_of(self, payment_intent_id: str) -> list[RefundState]:
        listing = await self._call(
            lambda: self._client.v1.refunds.list(
                params={"payment_intent": payment_intent_id, "limit": 100}
            )
        )
        return [_refund(refund) for refund in listing.data]

    async def refund_payment_intent(
        self, payment_intent_id: str, *, idempotency_key: str, metadata: Mapping[str, str]
    ) -> RefundState:
        refund = await self._call(
            lambda: self._client.v1.refunds.create(
                params={"payment_intent": payment_intent_id, "metadata": dict(metadata)},
                options={"idempotency_key": idempotency_key},
            )
        )
        return _refund(refund)
