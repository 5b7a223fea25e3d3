"""The Stripe calls off-session collection makes: charge, and find a charge by its key.

`CollectionPayments` is `StripePayments` plus `find_payment_intent`, used only to
reconcile a charge whose answer was lost (a process killed between the charge and
its record). localstripe neither replays idempotency keys nor filters lists, so the
lookup pages through the account's PaymentIntents and matches the key the charge
carries in its metadata; that works with real Stripe too and is rare enough to
afford.
"""

from __future__ import annotations

from typing import Any

from billing.stripe_gateway import PaymentIntentState, StripePayments, payment_intent_state

# Pages of 100 PaymentIntents read when looking one up by its idempotency key.
MAX_LOOKUP_PAGES = 50


class CollectionPayments(StripePayments):
    """`StripePayments` that can also find the PaymentIntent an idempotency key created."""

    async def _list_payment_intents(self, after: str | None) -> Any:
        params: dict[str, Any] = {"limit": 100}
        if after is not None:
            params["starting_after"] = after
        return await self._call(
            lambda client: client.v1.payment_intents.list_async(
                params=params  # type: ignore[arg-type]
            )
        )

    async def find_payment_intent(self, *, idempotency_key: str) -> PaymentIntentState | None:
        """The PaymentIntent whose metadata carries `idempotency_key`, or None."""
        after: str | None = None
        for _ in range(MAX_LOOKUP_PAGES):
            page = await self._list_payment_intents(after)
            for intent in page.data:
                metadata = intent.metadata.to_dict() if intent.metadata else {}
                if metadata.get("idempotency_key") == idempotency_key:
                    return payment_intent_state(intent)
            if not page.has_more or not page.data:
                return None
            after = page.data[-1].id
        return None
