"""The Stripe calls off-session collection makes: charge, and find a charge by its key.

`CollectionPayments` is `StripePayments` plus `find_payment_intent`, used only to
reconcile a charge whose answer was lost (a process killed between the charge and
its record). localstripe neither replays idempotency keys nor filters lists, so the
lookup pages through the account's PaymentIntents and matches the key the charge
carries in its metadata; that works with real Stripe too and is rare enough to
afford.

The renewal job charges many invoices of one tenant in a pass: with
`reuse_connections` one client and its HTTP session (keep-alive connections, one
TLS context) serve every call until `close()`, instead of a new session, context
and connection per charge (most of a charge's CPU in bench/renewals.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import stripe

from billing.stripe_gateway import (
    DEFAULT_API_BASE,
    STRIPE_TIMEOUT,
    PaymentIntentState,
    StripePayments,
    payment_failure,
    payment_intent_state,
)

T = TypeVar("T")

# Pages of 100 PaymentIntents read when looking one up by its idempotency key.
MAX_LOOKUP_PAGES = 50


class CollectionPayments(StripePayments):
    """`StripePayments` that can also find the PaymentIntent an idempotency key created.

    With `reuse_connections`, the owner must `close()` it when done.
    """

    def __init__(
        self, *, api_key: str, api_base: str = DEFAULT_API_BASE, reuse_connections: bool = False
    ) -> None:
        super().__init__(api_key=api_key, api_base=api_base)
        self._reuse = reuse_connections
        self._http: stripe.AIOHTTPClient | None = None
        self._client: stripe.StripeClient | None = None

    async def _call(self, function: Callable[[stripe.StripeClient], Awaitable[T]]) -> T:
        if not self._reuse:
            return await super()._call(function)
        if self._client is None:
            self._http = stripe.AIOHTTPClient(timeout=STRIPE_TIMEOUT)
            self._client = stripe.StripeClient(
                self._api_key,
                base_addresses={"api": self._api_base},
                max_network_retries=2,
                http_client=self._http,
            )
        try:
            return await function(self._client)
        except stripe.StripeError as error:
            raise payment_failure(error) from error

    async def close(self) -> None:
        """Close the kept HTTP session (a no-op without `reuse_connections`)."""
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close_async()  # type: ignore[no-untyped-call]

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
