"""A payment provider's refusal in the page's language, chosen by Stripe's decline code.

Stripe's `code` (`expired_card`, `incorrect_cvc`, ...) or, under `card_declined`, its
`decline_code` (`insufficient_funds`, ...) names the cause; the English text it sends
is only the fallback for a code not listed here (docs: stripe.com/docs/declines/codes).
"""

from __future__ import annotations

from web.i18n import Translator


def decline_message(i18n: Translator, code: str | None, fallback: str) -> str:
    """What the customer reads about a refusal with `code` (the provider's text if unknown)."""
    messages = {
        "card_declined": i18n.gettext("Your card was declined."),
        "generic_decline": i18n.gettext("Your card was declined."),
        "insufficient_funds": i18n.gettext("Your card has insufficient funds."),
        "expired_card": i18n.gettext("Your card has expired."),
        "incorrect_cvc": i18n.gettext("Your card's security code is incorrect."),
        "incorrect_number": i18n.gettext("Your card number is incorrect."),
        "processing_error": i18n.gettext(
            "An error occurred while processing your card. Try again in a little bit."
        ),
        "authentication_required": i18n.gettext("Your bank asks you to confirm this payment."),
        "payment_intent_authentication_failure": i18n.gettext(
            "The provided PaymentMethod has failed authentication."
        ),
        "connection_error": i18n.gettext(
            "We could not reach the payment provider. Nothing was charged; try again shortly."
        ),
    }
    return messages.get(code or "", fallback)
