"""Stripe's webhooks to a tenant: verify the signature, handle each event id once.

`Stripe-Signature: t=<unix time>,v1=<hex>[,v1=...]` carries HMAC-SHA256 of
`t + "." + raw body` under the endpoint's signing secret; a signature older or
newer than the tolerance (300 s, Stripe's default) is refused so a captured
delivery cannot be replayed later. The check is stripe's own
(`stripe.WebhookSignature.verify_header`). Delivery is at least once and unordered:
the event id is recorded in `stripe_events` in the same transaction as its
effect, so a replay changes nothing and a failed attempt can be retried.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import stripe

from billing.checkout_completion import settle_checkout_from_webhook
from billing.errors import BillingError
from billing.invoice_payment_attempts import settle_invoice_from_webhook
from billing.invoice_payment_refunds import refund_closed_intent
from billing.stripe_gateway import PaymentIntentState
from billing.stripe_refunds import PaymentRefunds
from billing.topups import settle_from_webhook
from kernel import clock
from kernel.db import Db, transaction
from kernel.errors import ErrorKind
from kernel.sealing import Sealer

TOLERANCE_SECONDS = 300
HANDLED_TYPES = frozenset({"payment_intent.succeeded"})


class InvalidWebhook(BillingError):
    """The delivery is not a genuine, fresh, well-formed Stripe event; nothing was done."""

    kind = ErrorKind.MALFORMED


@dataclass(frozen=True, kw_only=True)
class WebhookResult:
    event_id: str
    type: str
    duplicate: bool
    handled: bool


def signature_header(payload: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` value Stripe would send for `payload` (for tests and tools)."""
    moment = clock.unix_seconds() if timestamp is None else timestamp
    header = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret, int(moment)
    )
    return str(header)


def verify_signature(
    payload: bytes,
    header: str | None,
    *,
    secret: str,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise InvalidWebhook unless one `v1` signature matches and the timestamp is fresh.

    stripe's own check (`WebhookSignature.verify_header`: every `v1` compared in
    constant time, so a rolled secret works; too old a timestamp refused), plus a
    refusal of timestamps too far in the future, which it lets through.
    """
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as error:
        raise InvalidWebhook(f"the Stripe-Signature does not verify: {error}") from None
    assert header is not None  # verify_header refuses a missing header
    timestamps = [part[2:] for part in header.split(",") if part.startswith("t=")]
    if int(timestamps[0]) > clock.unix_seconds() + tolerance:
        raise InvalidWebhook("the signature's timestamp is outside the tolerance")


def _payment_intent(data: Any) -> PaymentIntentState:
    try:
        return PaymentIntentState(
            id=str(data["id"]),
            status=str(data["status"]),
            amount=int(data["amount"]),
            currency=str(data["currency"]).upper(),
            customer_id=data.get("customer") if isinstance(data.get("customer"), str) else None,
            client_secret=None,
            failure_message=None,
            metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InvalidWebhook("the event's payment intent is malformed") from None


async def handle_webhook(
    db: Db,
    *,
    tenant_id: int,
    payload: bytes,
    signature: str | None,
    secret: str,
    refunds: PaymentRefunds | None = None,
) -> WebhookResult:
    """Verify and apply one delivery; a repeated event id is acknowledged and ignored.

    With `refunds`, a payment that arrives for an already complete checkout session
    (a stale 3-D Secure tab), or for an invoice voided while it was paid, is
    refunded instead of kept.
    """
    verify_signature(payload, signature, secret=secret)
    try:
        event = json.loads(payload)
        event_id = str(event["id"])
        event_type = str(event["type"])
    except (ValueError, KeyError, TypeError):
        raise InvalidWebhook("the body is not a Stripe event") from None
    async with transaction(db) as connection:
        # Concurrent twins wait on the primary key until the first commits, then see it.
        inserted = await connection.fetchval(
            "INSERT INTO stripe_events (id, type) VALUES ($1, $2) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            event_id,
            event_type,
        )
        if inserted is None:
            return WebhookResult(event_id=event_id, type=event_type, duplicate=True, handled=False)
        handled = False
        if event_type == "payment_intent.succeeded":
            intent = _payment_intent(event.get("data", {}).get("object"))
            handled = await settle_from_webhook(connection, tenant_id=tenant_id, intent=intent)
            # An invoice paid in the portal whose 3-D Secure tab was closed is paid here.
            if not handled and await settle_invoice_from_webhook(
                connection, tenant_id=tenant_id, intent=intent
            ):
                handled = True
                if refunds is not None:  # paid for an invoice voided meanwhile: refunded
                    await refund_closed_intent(
                        connection, refunds, tenant_id=tenant_id, payment_intent_id=intent.id
                    )
            # A checkout whose page never came back completes here, once.
            handled = handled or await settle_checkout_from_webhook(
                connection, tenant_id=tenant_id, intent=intent, refunds=refunds
            )
    return WebhookResult(event_id=event_id, type=event_type, duplicate=False, handled=handled)


def endpoint_secret(sealer: Sealer, *, tenant_id: int) -> str:
    """The signing secret of the tenant's Stripe webhook endpoint, derived from the KEK.

    Nothing is stored: every replica derives the same value. The tenant registers
    it with its endpoint (localstripe accepts any secret; see the API route).
    """
    key = sealer.derive_key(f"tenant:{tenant_id}:stripe_webhook_secret")
    return "whsec_" + base64.urlsafe_b64encode(key).rstrip(b"=").decode()
