"""The Stripe adapter: cards, SetupIntents and charges on localstripe; Stripe's errors in words."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from billing.stripe_gateway import (
    PaymentFailed,
    PaymentProviderUnreachable,
    StripePayments,
    payment_failure,
)
from kernel.errors import ErrorKind
from tests.dates import CARD_EXP_YEAR
from tests.fixtures.localstripe import LocalStripe, localstripe  # noqa: F401


def card_method(server: LocalStripe, number: str) -> str:
    created = server.request(
        "POST",
        "/v1/payment_methods",
        {
            "type": "card",
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": str(CARD_EXP_YEAR),
            "card[cvc]": "123",
        },
    )
    return str(created["id"])


async def test_a_card_saved_through_a_setup_intent_is_attached_and_described(
    localstripe: LocalStripe,  # noqa: F811
) -> None:
    payments = StripePayments(api_key=localstripe.secret_key, api_base=localstripe.api_base)
    customer = await payments.create_customer(name="Ada", email="ada@example.com", reference="c1")
    intent = await payments.create_setup_intent(customer_id=customer)
    assert intent.client_secret.startswith(intent.id)
    method = card_method(localstripe, "4242424242424242")
    localstripe.request(
        "POST", f"/v1/setup_intents/{intent.id}/confirm", {"payment_method": method}
    )
    confirmed = await payments.retrieve_setup_intent(intent.id)
    assert confirmed.status == "succeeded"
    card = await payments.attach_payment_method(payment_method_id=method, customer_id=customer)
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == (
        "visa",
        "4242",
        12,
        CARD_EXP_YEAR,
    )
    assert card.customer_id == customer


async def test_a_declined_charge_is_a_payment_failure_in_words(
    localstripe: LocalStripe,  # noqa: F811
) -> None:
    payments = StripePayments(api_key=localstripe.secret_key, api_base=localstripe.api_base)
    customer = await payments.create_customer(name="Bo", email=None, reference="c2")
    method = card_method(localstripe, "4000000000000341")
    await payments.attach_payment_method(payment_method_id=method, customer_id=customer)
    with pytest.raises(PaymentFailed) as caught:
        await payments.charge_off_session(
            customer_id=customer,
            payment_method_id=method,
            amount=1000,
            currency="EUR",
            idempotency_key="k-declined",
            metadata={},
        )
    assert "declined" in caught.value.message


async def test_a_3d_secure_card_charged_off_session_requires_action(
    localstripe: LocalStripe,  # noqa: F811
) -> None:
    payments = StripePayments(api_key=localstripe.secret_key, api_base=localstripe.api_base)
    customer = await payments.create_customer(name="Cy", email=None, reference="c3")
    method = card_method(localstripe, "4000002500003155")
    await payments.attach_payment_method(payment_method_id=method, customer_id=customer)
    intent = await payments.charge_off_session(
        customer_id=customer,
        payment_method_id=method,
        amount=1500,
        currency="EUR",
        idempotency_key="k-3ds",
        metadata={"topup_nonce": "n"},
    )
    assert intent.status == "requires_action"
    assert intent.client_secret is not None
    assert intent.metadata == {"topup_nonce": "n"}


async def test_a_stripe_nobody_listens_for_is_unavailable_not_a_decline() -> None:
    # Port 9 (discard) has no listener on loopback: the connection is refused.
    payments = StripePayments(api_key="sk_test_x", api_base="http://127.0.0.1:9")
    with pytest.raises(PaymentProviderUnreachable) as caught:
        await payments.create_customer(name="Di", email=None, reference="c4")
    assert caught.value.code == "connection_error"
    assert caught.value.kind is ErrorKind.UNAVAILABLE


def card_error(code: str, message: str, intent_id: str | None) -> stripe.CardError:
    """A card error as the SDK raises it from Stripe's 402 answer."""
    body: dict[str, Any] = {"type": "card_error", "code": code, "message": message}
    if intent_id is not None:
        body["payment_intent"] = {
            "id": intent_id,
            "object": "payment_intent",
            "status": "requires_payment_method",
        }
    return stripe.CardError(  # type: ignore[no-untyped-call]
        message, None, code, http_status=402, json_body={"error": body}
    )


def test_authentication_required_reads_as_a_request_to_confirm_not_a_decline() -> None:
    failure = payment_failure(
        card_error(
            "authentication_required",
            "Your card was declined. This transaction requires authentication.",
            "pi_offsession",
        )
    )
    assert failure.needs_authentication
    assert failure.code == "authentication_required"
    assert failure.payment_intent_id == "pi_offsession"
    assert "declined" not in failure.message
    assert "confirm" in failure.message


def test_a_decline_keeps_stripes_words_and_does_not_ask_for_authentication() -> None:
    failure = payment_failure(
        card_error("card_declined", "Your card has insufficient funds.", "pi_declined")
    )
    assert not failure.needs_authentication
    assert failure.message == "Your card has insufficient funds."
    assert failure.payment_intent_id == "pi_declined"


async def test_an_on_session_charge_of_a_3d_secure_card_waits_for_the_page(
    localstripe: LocalStripe,  # noqa: F811
) -> None:
    payments = StripePayments(api_key=localstripe.secret_key, api_base=localstripe.api_base)
    customer = await payments.create_customer(name="Ed", email=None, reference="c5")
    method = card_method(localstripe, "4000002500003155")
    await payments.attach_payment_method(payment_method_id=method, customer_id=customer)
    intent = await payments.charge_on_session(
        customer_id=customer,
        payment_method_id=method,
        amount=1500,
        currency="EUR",
        idempotency_key="k-on-session",
        metadata={"topup_nonce": "n2"},
    )
    assert intent.status == "requires_action"
    await payments.cancel_payment_intent(intent.id)
    assert (await payments.retrieve_payment_intent(intent.id)).status == "canceled"
