"""Fixtures for hosted checkout tests: the production gateway app, a tenant on localstripe.

Sessions are created through the tenant API, as a tenant would; the page's
steps (billing details, SetupIntent confirmed by Stripe.js, completion) are
driven through the same HTTP endpoints the page script calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from gateway.app import create_app
from gateway.settings import Settings
from gateway.tenants.api_keys import create_api_key
from gateway.tenants.registry import create_tenant, set_stripe_keys
from kernel.sealing import Sealer
from tests.dates import CARD_EXP_YEAR
from tests.fixtures.localstripe import LocalStripe, localstripe, stripe_settings

__all__ = ["localstripe"]

ALPEAK = {"Host": "alpeak.localhost:8080"}
BOREALIS = {"Host": "borealis.localhost:8080"}
JSON = {**ALPEAK, "Accept": "application/json"}
SUCCESS_URL = "https://alpeak.example/thanks?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://alpeak.example/pricing"
BILLING = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "line1": "12 Rue des Alpes",
    "city": "Grenoble",
    "postal_code": "38000",
    "country": "FR",
}


def gateway_app(
    settings: Settings, server: LocalStripe, *, outbox: bool = False
) -> web.Application:
    """The production app on localstripe; `outbox` runs the worker delivering webhooks."""
    return create_app(
        # The tests' webhook receivers listen on loopback, over plain HTTP.
        dataclasses.replace(stripe_settings(settings, server), webhook_allow_loopback=True),
        domain_worker=False,
        outbox_delivery=False,
    )


@dataclass
class Shop:
    """Alpeak (Stripe keys on localstripe, an API key) behind a test client."""

    client: Any
    pool: Any
    server: LocalStripe
    sealer: Sealer
    tenant: Any
    api_key: str

    @property
    def api(self) -> dict[str, str]:
        return {"Host": "api.localhost:8080", "Authorization": f"Bearer {self.api_key}"}

    async def create_session(self, **fields: Any) -> dict[str, Any]:
        body = {
            "customer_details": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "line_items": [
                {"name": "Pro plan", "unit_amount": 2900, "interval": "month"},
                {"name": "Setup", "unit_amount": 5000},
            ],
            "currency": "EUR",
            "success_url": SUCCESS_URL,
            "cancel_url": CANCEL_URL,
            **fields,
        }
        body = {name: value for name, value in body.items() if value is not None}
        response = await self.client.post("/api/v1/checkout_sessions", json=body, headers=self.api)
        assert response.status == 201, await response.text()
        created: dict[str, Any] = await response.json()
        return created

    async def csrf_token(self, session_id: str) -> str:
        response = await self.client.get(f"/checkout/{session_id}", headers=ALPEAK)
        assert response.status == 200, await response.text()
        found = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())
        assert found is not None
        return found[1]

    async def billing_step(self, session_id: str, token: str, **billing: str) -> dict[str, Any]:
        """What the page does on submit first: store billing details, get a SetupIntent."""
        response = await self.client.post(
            f"/checkout/{session_id}/customer",
            data={**BILLING, **billing, "csrf_token": token},
            headers=JSON,
        )
        assert response.status == 200, await response.text()
        intent: dict[str, Any] = await response.json()
        return intent

    async def confirm_card_setup(self, intent: dict[str, Any], number: str) -> None:
        """What stripe.confirmCardSetup does in the page (it leaves the card unattached)."""
        method = await asyncio.to_thread(
            self.server.request,
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
        confirmed = await asyncio.to_thread(
            self.server.request,
            "POST",
            f"/v1/setup_intents/{intent['setup_intent']}/confirm",
            {"payment_method": method["id"], "client_secret": intent["client_secret"]},
        )
        if confirmed["status"] == "requires_action":
            # The customer completes 3-D Secure in Stripe.js's dialog, which confirms again.
            await asyncio.to_thread(
                self.server.request,
                "POST",
                f"/v1/setup_intents/{intent['setup_intent']}/confirm",
                {"client_secret": intent["client_secret"]},
            )

    async def saved_card(self, session_id: str, number: str) -> tuple[str, str]:
        """(csrf token, SetupIntent id) after the billing step and a confirmed card setup."""
        token = await self.csrf_token(session_id)
        intent = await self.billing_step(session_id, token)
        await self.confirm_card_setup(intent, number)
        return token, str(intent["setup_intent"])

    async def complete(self, session_id: str, token: str, setup_intent: str) -> Any:
        return await self.client.post(
            f"/checkout/{session_id}/complete",
            data={"csrf_token": token, "setup_intent": setup_intent},
            headers=JSON,
        )

    async def stripe_customer(self, session_id: str) -> str:
        value = await self.pool.fetchval(
            "SELECT c.stripe_customer_id FROM checkout_sessions s JOIN customers c "
            "ON c.tenant_id = s.tenant_id AND c.id = s.customer_id "
            "WHERE s.tenant_id = $1 AND s.id = $2",
            self.tenant.id,
            session_id,
        )
        return str(value)


async def make_shop(pool: Any, settings: Settings, server: LocalStripe) -> tuple[Any, Sealer, str]:
    assert settings.kek is not None
    sealer = Sealer(settings.kek)
    tenant = await create_tenant(pool, slug="alpeak", name="Alpeak Outdoor", brand_color="#aa0000")
    other = await create_tenant(pool, slug="borealis", name="Borealis")
    for each in (tenant, other):
        await set_stripe_keys(
            pool,
            sealer,
            tenant_id=each.id,
            secret_key=server.secret_key,
            publishable_key=server.publishable_key,
        )
    _, key = await create_api_key(pool, tenant_id=tenant.id)
    return tenant, sealer, key


@pytest.fixture
async def shop(
    aiohttp_client: Any,
    settings: Settings,
    pool: Any,
    localstripe: LocalStripe,
) -> Shop:
    tenant, sealer, key = await make_shop(pool, settings, localstripe)
    client = await aiohttp_client(gateway_app(settings, localstripe))
    return Shop(client, pool, localstripe, sealer, tenant, key)
