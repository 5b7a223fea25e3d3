"""Stripe webhook signatures: genuine, forged, stale and rolled-secret deliveries."""

from __future__ import annotations

import time

import pytest

from billing.stripe_webhooks import InvalidWebhook, signature_header, verify_signature

SECRET = "whsec_test"
PAYLOAD = b'{"id": "evt_1", "type": "payment_intent.succeeded"}'


def test_a_genuine_fresh_signature_is_accepted() -> None:
    verify_signature(PAYLOAD, signature_header(PAYLOAD, secret=SECRET), secret=SECRET)


def test_any_matching_v1_is_accepted_while_a_secret_is_rolled() -> None:
    good = signature_header(PAYLOAD, secret=SECRET)
    other = signature_header(PAYLOAD, secret="whsec_old").split("v1=")[1]
    verify_signature(PAYLOAD, f"{good},v1={other}", secret=SECRET)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "t=abc,v1=00",
        signature_header(PAYLOAD, secret="whsec_other"),
        signature_header(PAYLOAD, secret=SECRET, timestamp=int(time.time()) - 301),
        signature_header(PAYLOAD, secret=SECRET, timestamp=int(time.time()) + 900),
        signature_header(PAYLOAD + b" ", secret=SECRET),
    ],
    ids=["missing", "empty", "malformed", "forged", "stale", "future", "body-changed"],
)
def test_a_forged_stale_or_malformed_signature_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidWebhook):
        verify_signature(PAYLOAD, header, secret=SECRET)
