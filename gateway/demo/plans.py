"""What the demo seeds: its two tenants and, per customer, the data, card, plan and credits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEMO_SLUG = "alpeak"
OTHER_SLUG = "bergfeld"


@dataclass(frozen=True, kw_only=True)
class CustomerPlan:
    """One demo customer: its API data, its card, what it subscribes to and its credits."""

    data: Mapping[str, Any]
    card: tuple[str, str, int, int]  # brand, last4, exp_month, exp_year
    plan_name: str
    items: Sequence[Mapping[str, Any]]
    tax_rate_bps: int
    wallet_credit: int


ALPEAK_CUSTOMERS = (
    CustomerPlan(
        data={
            "name": "Atelier Lumière SARL",
            "email": "facturation@atelier-lumiere.example",
            "address": {
                "line1": "12 rue des Lilas",
                "city": "Lyon",
                "postal_code": "69002",
                "country": "FR",
            },
            "vat_number": "FR32123456789",
            "language": "fr",
            "currency": "EUR",
        },
        card=("visa", "4242", 12, 2030),
        plan_name="Alpeak Pro",
        items=(
            {"name": "Pro plan", "unit_amount": 4900, "price_model": "flat"},
            {"name": "Extra seats", "unit_amount": 900, "quantity": 3},
        ),
        tax_rate_bps=2000,
        wallet_credit=2500,
    ),
    CustomerPlan(
        data={
            "name": "Bergbrauerei Keller GmbH",
            "email": "buchhaltung@keller-brauerei.example",
            "address": {
                "line1": "Leopoldstraße 8",
                "line2": "2. OG",
                "city": "München",
                "postal_code": "80802",
                "country": "DE",
            },
            "vat_number": "DE123456789",
            "language": "de",
            "currency": "EUR",
        },
        card=("mastercard", "4444", 8, 2029),
        plan_name="Alpeak Team",
        items=(
            {"name": "Team plan", "unit_amount": 12900, "price_model": "flat"},
            {"name": "API calls (per 10,000)", "unit_amount": 250, "quantity": 12},
        ),
        tax_rate_bps=1900,
        wallet_credit=10000,
    ),
    CustomerPlan(
        data={
            "name": "Harbour & Pine Ltd",
            "email": "accounts@harbourpine.example",
            "address": {
                "line1": "4 Quayside",
                "city": "Bristol",
                "postal_code": "BS1 4DJ",
                "country": "GB",
            },
            "vat_number": "GB123456789",
            "language": "en",
            "currency": "GBP",
        },
        card=("amex", "0005", 3, 2031),
        plan_name="Alpeak Starter",
        items=(
            {"name": "Starter plan", "unit_amount": 1900, "price_model": "flat"},
            {"name": "Extra projects", "unit_amount": 500, "quantity": 2},
        ),
        tax_rate_bps=2000,
        wallet_credit=1500,
    ),
)

BERGFELD_CUSTOMER = CustomerPlan(
    data={
        "name": "Seehof Hotel AG",
        "email": "finanzen@seehof.example",
        "address": {"line1": "Seestrasse 1", "city": "Zürich", "postal_code": "8002"},
        "language": "de",
        "currency": "EUR",
    },
    card=("visa", "1881", 6, 2030),
    plan_name="Bergfeld Basic",
    items=(
        {"name": "Basic plan", "unit_amount": 2900, "price_model": "flat"},
        {"name": "Rooms", "unit_amount": 100, "quantity": 40},
    ),
    tax_rate_bps=0,
    wallet_credit=5000,
)


DEMO_CUSTOMER_EMAILS = [str(plan.data["email"]) for plan in (*ALPEAK_CUSTOMERS, BERGFELD_CUSTOMER)]
