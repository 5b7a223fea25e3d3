"""Payments: the few Stripe calls the portal needs, behind a small interface.

`Payments` is owned by its consumers (payment methods, top-ups); `StripePayments`
implements it with the `stripe` SDK, one `StripeClient` per tenant key and API
base, so each tenant charges through its own Stripe account and tests can point
it at localstripe. Calls use the SDK's native async methods (`*_async`) over
its aiohttp HTTP client, one client session per call that is closed before the
call returns, so nothing needs cleaning up afterwards. Stripe's refusals become
`PaymentFailed` with a message a customer can read; a provider that cannot be
reached is `PaymentProviderUnreachable`, one that fails is `PaymentProviderFailed`.

An off-session charge of a card whose bank wants 3-D Secure is refused by real
Stripe with the card error `authentication_required` (the PaymentIntent is left
in `requires_payment_method`); localstripe instead answers `requires_action`.
`PaymentFailed.needs_authentication` tells the caller to charge again on-session
(`charge_on_session`), which comes back `requires_action` for the page to finish.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import stripe

from billing.errors import BillingError, Conflict
from kernel.errors import ErrorKind

T = TypeVar("T")

DEFAULT_API_BASE = "https://api.stripe.com"
# A card network name Stripe reports that we do not list is shown as a plain "card".
KNOWN_BRANDS = frozenset({"visa", "mastercard", "amex", "discover", "diners", "jcb", "unionpay"})
# Stripe's card error code for an off-session charge the bank wants authenticated.
AUTHENTICATION_REQUIRED = "authentication_required"
# Seconds for one Stripe request (connect and answer), before the SDK's two retries.
STRIPE_TIMEOUT = 30.0


class PaymentFailed(BillingError):
    """Stripe refused or could not complete a payment step; `message` is fit for the customer.

    `payment_intent_id` is set when the refusal belongs to a PaymentIntent.
    """

    kind = ErrorKind.PAYMENT_FAILED

    def __init__(
        self, message: str, *, code: str | None = None, payment_intent_id: str | None = None
    ) -> None:
        self.message = message
        self.code = code
        self.payment_intent_id = payment_intent_id
        super().__init__(message)

    @property
    def needs_authentication(self) -> bool:
        """The bank wants the cardholder to authenticate (3-D Secure); nothing was charged."""
        return self.code == AUTHENTICATION_REQUIRED


class PaymentProviderUnreachable(PaymentFailed):
    """Stripe could not be reached (refused, reset or timed out); retry shortly as is."""

    kind = ErrorKind.UNAVAILABLE


class PaymentProviderFailed(PaymentFailed):
    """Stripe answered with its own error, or refused this account's key."""

    kind = ErrorKind.UPSTREAM_FAILED


class PaymentsUnavailable(Conflict):
    """The tenant has not configured card payments (no Stripe key)."""

    def __init__(self) -> None:
        super().__init__("card payments are not set up for this account yet")


@dataclass(frozen=True, kw_only=True)
class CardDetails:
    """A card saved in Stripe, as the portal shows it."""

    payment_method_id: str
    customer_id: str | None
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True, kw_only=True)
class SetupIntentState:
    id: str
    client_secret: str
    status: str
    customer_id: str | None
    payment_method_id: str | None


@dataclass(frozen=True, kw_only=True)
class PaymentIntentState:
    id: str
    status: str
    amount: int
    currency: str
    customer_id: str | None
    client_secret: str | None
    failure_message: str | None
    metadata: Mapping[str, str]


class Payments(Protocol):
    """What the portal asks of a payment provider. Every call may block on the network."""

    async def create_customer(self, *, name: str, email: str | None, reference: str) -> str:
        """A new provider customer; returns its id."""
        ...

    async def create_setup_intent(self, *, customer_id: str) -> SetupIntentState:
        """A SetupIntent to save a card for off-session use; the page confirms it."""
        ...

    async def retrieve_setup_intent(self, setup_intent_id: str) -> SetupIntentState: ...

    async def attach_payment_method(
        self, *, payment_method_id: str, customer_id: str
    ) -> CardDetails:
        """Attach a card to the customer (Stripe.js may leave it unattached) and describe it."""
        ...

    async def detach_payment_method(self, payment_method_id: str) -> None: ...

    async def charge_off_session(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> PaymentIntentState:
        """Create and confirm a PaymentIntent at once; PaymentFailed when the card is declined.

        Real Stripe refuses a card that needs 3-D Secure with `needs_authentication`.
        """
        ...

    async def charge_on_session(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> PaymentIntentState:
        """The same with the customer present: 3-D Secure comes back as `requires_action`."""
        ...

    async def cancel_payment_intent(self, payment_intent_id: str) -> PaymentIntentState:
        """Cancel an intent not yet paid; PaymentFailed when Stripe refuses (paid meanwhile)."""
        ...

    async def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentState: ...


def _setup_intent(intent: Any) -> SetupIntentState:
    return SetupIntentState(
        id=intent.id,
        client_secret=intent.client_secret,
        status=intent.status,
        customer_id=_id_of(intent.customer),
        payment_method_id=_id_of(intent.payment_method),
    )


def _id_of(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value.id)


def _card(method: Any) -> CardDetails:
    card = method.card
    brand = str(card.brand or "card").lower()
    return CardDetails(
        payment_method_id=method.id,
        customer_id=_id_of(method.customer),
        brand=brand if brand in KNOWN_BRANDS else "card",
        last4=str(card.last4),
        exp_month=int(card.exp_month),
        exp_year=int(card.exp_year),
    )


def _payment_intent(intent: Any) -> PaymentIntentState:
    error = intent.last_payment_error
    return PaymentIntentState(
        id=intent.id,
        status=intent.status,
        amount=int(intent.amount),
        currency=str(intent.currency).upper(),
        customer_id=_id_of(intent.customer),
        client_secret=intent.client_secret,
        failure_message=str(error.message) if error is not None and error.message else None,
        metadata={
            str(key): str(value)
            for key, value in (intent.metadata.to_dict() if intent.metadata else {}).items()
        },
    )


payment_intent_state = _payment_intent  # what sibling modules convert PaymentIntents with


def payment_failure(error: stripe.StripeError) -> PaymentFailed:
    """Stripe's message in words; its own user message when it gives one.

    `authentication_required` is no decline: the bank wants the cardholder to confirm,
    which they can do on-session, so its message asks for that.
    """
    if isinstance(error, stripe.CardError):
        intent = error.error.payment_intent if error.error is not None else None
        intent_id = _id_of(intent) if intent else None
        if error.code == AUTHENTICATION_REQUIRED:
            return PaymentFailed(
                "Your bank asks you to confirm this payment.",
                code=AUTHENTICATION_REQUIRED,
                payment_intent_id=intent_id,
            )
        message = error.user_message or "Your card was declined."
        # Under `card_declined`, Stripe's decline_code names the cause (insufficient_funds).
        decline_code = getattr(error.error, "decline_code", None) if error.error else None
        return PaymentFailed(message, code=decline_code or error.code, payment_intent_id=intent_id)
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return PaymentProviderUnreachable(
            "We could not reach the payment provider. Nothing was charged; try again shortly.",
            code="connection_error",
        )
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return PaymentProviderFailed(
            "Card payments are misconfigured for this account; please contact the merchant.",
            code="authentication_error",
        )
    if isinstance(error, stripe.APIError):
        return PaymentProviderFailed(
            "The payment provider failed to answer. Try again shortly.", code="api_error"
        )
    message = error.user_message or "The payment provider refused the request."
    return PaymentFailed(message, code=getattr(error, "code", None))


class StripePayments:
    """`Payments` through the `stripe` SDK, for one tenant's secret key and one API base."""

    def __init__(self, *, api_key: str, api_base: str = DEFAULT_API_BASE) -> None:
        self._api_key = api_key
        self._api_base = api_base.rstrip("/")

    async def _call(self, function: Callable[[stripe.StripeClient], Awaitable[T]]) -> T:
        """Run `function` with a client whose HTTP session lives for this call only."""
        # aiohttp is already ours (httpx would be the SDK's default); the SDK opens the
        # session on first use and it is closed here, so none outlives the call.
        http = stripe.AIOHTTPClient(timeout=STRIPE_TIMEOUT)
        client = stripe.StripeClient(
            self._api_key,
            base_addresses={"api": self._api_base},
            max_network_retries=2,
            http_client=http,
        )
        try:
            return await function(client)
        except stripe.StripeError as error:
            raise payment_failure(error) from error
        finally:
            await http.close_async()  # type: ignore[no-untyped-call]

    async def create_customer(self, *, name: str, email: str | None, reference: str) -> str:
        params: dict[str, Any] = {"name": name, "metadata": {"gateway_customer": reference}}
        if email:
            params["email"] = email
        customer = await self._call(
            lambda client: client.v1.customers.create_async(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": f"customer:{reference}"},
            )
        )
        return str(customer.id)

    async def create_setup_intent(self, *, customer_id: str) -> SetupIntentState:
        intent = await self._call(
            lambda client: client.v1.setup_intents.create_async(
                params={"customer": customer_id, "usage": "off_session"}
            )
        )
        return _setup_intent(intent)

    async def retrieve_setup_intent(self, setup_intent_id: str) -> SetupIntentState:
        intent = await self._call(
            lambda client: client.v1.setup_intents.retrieve_async(setup_intent_id)
        )
        return _setup_intent(intent)

    async def attach_payment_method(
        self, *, payment_method_id: str, customer_id: str
    ) -> CardDetails:
        method = await self._call(
            lambda client: client.v1.payment_methods.attach_async(
                payment_method_id, params={"customer": customer_id}
            )
        )
        return _card(method)

    async def detach_payment_method(self, payment_method_id: str) -> None:
        await self._call(lambda client: client.v1.payment_methods.detach_async(payment_method_id))

    async def charge_off_session(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> PaymentIntentState:
        return await self._confirm_payment(
            {
                "customer": customer_id,
                "payment_method": payment_method_id,
                "amount": amount,
                "currency": currency.lower(),
                "metadata": dict(metadata),
                "off_session": True,
            },
            idempotency_key,
        )

    async def charge_on_session(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> PaymentIntentState:
        return await self._confirm_payment(
            {
                "customer": customer_id,
                "payment_method": payment_method_id,
                "amount": amount,
                "currency": currency.lower(),
                "metadata": dict(metadata),
                # Cards only: a server-side confirmation then needs no return_url, and
                # 3-D Secure comes back as requires_action for Stripe.js in the page.
                "payment_method_types": ["card"],
            },
            idempotency_key,
        )

    async def _confirm_payment(
        self, params: dict[str, Any], idempotency_key: str
    ) -> PaymentIntentState:
        """Create and confirm a PaymentIntent with `params` in one call."""
        confirmed: dict[str, Any] = {**params, "confirm": True}
        intent = await self._call(
            lambda client: client.v1.payment_intents.create_async(
                params=confirmed,  # type: ignore[arg-type]
                # Real Stripe replays the first answer for a repeated key; localstripe
                # ignores the header, so callers must also stop duplicates themselves.
                options={"idempotency_key": idempotency_key},
            )
        )
        return _payment_intent(intent)

    async def cancel_payment_intent(self, payment_intent_id: str) -> PaymentIntentState:
        intent = await self._call(
            lambda client: client.v1.payment_intents.cancel_async(payment_intent_id)
        )
        return _payment_intent(intent)

    async def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentState:
        intent = await self._call(
            lambda client: client.v1.payment_intents.retrieve_async(payment_intent_id)
        )
        return _payment_intent(intent)
