"""Offline payments for the demo: localstripe in the same process, demo keys and cards.

`gateway serve --demo` uses this so a newcomer can remove and add cards and buy
credits without any network: localstripe (a development dependency) serves the
Stripe API and its Stripe.js stand-in on a loopback port, its store kept in the
data directory so the demo's Stripe customers survive restarts. Nothing here
runs outside the demo.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import stripe
from aiohttp import web

from billing.payment_methods_service import ensure_stripe_customer
from billing.stripe_gateway import StripePayments
from gateway.settings import Settings
from gateway.tenants import registry
from kernel.sealing import Sealer

logger = logging.getLogger(__name__)

DEMO_SECRET_KEY = "sk_test_gatewaydemo0001"  # noqa: S105 (a localstripe key, not a secret)
DEMO_PUBLISHABLE_KEY = "pk_test_gatewaydemo0001"
TEST_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}


@dataclass
class LocalStripe:
    """A localstripe app served from this process; `close()` stops it."""

    runner: web.AppRunner
    port: int

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def js_url(self) -> str:
        # The trailing slash matters: the script derives its API base from its own URL.
        return f"http://127.0.0.1:{self.port}/js.stripe.com/v3/"

    def settings_for(self, settings: Settings) -> Settings:
        return replace(settings, stripe_api_base=self.api_base, stripe_js_url=self.js_url)

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_local_stripe(data_dir: Path, *, port: int = 0) -> LocalStripe | None:
    """Serve localstripe on 127.0.0.1:`port` (0: any free port), or None if not installed."""
    try:
        with warnings.catch_warnings():
            # localstripe registers plain-function handlers, which aiohttp deprecates.
            warnings.simplefilter("ignore", DeprecationWarning)
            import localstripe.resources as resources
            import localstripe.server as server
    except ImportError:
        logger.warning("localstripe is not installed: the demo's payment actions are off")
        return None
    store_path = data_dir / "localstripe.pickle"

    def dump(store: Any) -> None:
        # localstripe pickles its whole store on every write; keep it in our data directory.
        temporary = store_path.with_suffix(".tmp")
        with temporary.open("wb") as handle:
            pickle.dump(dict(store), handle, protocol=pickle.HIGHEST_PROTOCOL)
        temporary.replace(store_path)

    resources.Store.dump_to_disk = dump
    resources.store.clear()
    if store_path.exists():
        # Our own file, written by `dump` above in an earlier run of the demo.
        with store_path.open("rb") as handle:
            dict.update(resources.store, pickle.load(handle))  # noqa: S301
    runner = web.AppRunner(_fresh_copy(server.app), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    bound = runner.addresses[0][1]
    return LocalStripe(runner, int(bound))


def _fresh_copy(app: web.Application) -> web.Application:
    """localstripe's module-level app with its routes, unbound to any event loop.

    An aiohttp app belongs to the first loop that serves it; a copy per start lets one
    process start localstripe again on another loop (the tests do, one loop per test).
    """
    copy = web.Application(middlewares=list(app.middlewares))
    copy.on_response_prepare.extend(app.on_response_prepare)
    for route in app.router.routes():
        if route.resource is not None:
            copy.router.add_route(route.method, route.resource.canonical, route.handler)
    return copy


async def connect_demo_payments(
    pool: Any, sealer: Sealer, local: LocalStripe, *, tenant_slugs: list[str]
) -> None:
    """Give the demo tenants Stripe keys, and each demo card a real (local) Stripe card."""
    payments = StripePayments(api_key=DEMO_SECRET_KEY, api_base=local.api_base)
    client = stripe.StripeClient(DEMO_SECRET_KEY, base_addresses={"api": local.api_base})
    for slug in tenant_slugs:
        tenant = await registry.get_tenant_by_slug(pool, slug)
        await registry.set_stripe_keys(
            pool,
            sealer,
            tenant_id=tenant.id,
            secret_key=DEMO_SECRET_KEY,
            publishable_key=DEMO_PUBLISHABLE_KEY,
        )
        cards = await pool.fetch(
            """SELECT id, customer_id FROM payment_methods
               WHERE tenant_id = $1 AND status = 'active' AND stripe_payment_method_id IS NULL""",
            tenant.id,
        )
        for card in cards:
            stripe_customer = await ensure_stripe_customer(
                pool, payments, tenant_id=tenant.id, customer_id=card["customer_id"]
            )
            method = await asyncio.to_thread(
                lambda: client.v1.payment_methods.create(
                    params={"type": "card", "card": TEST_CARD}  # type: ignore[arg-type]
                )
            )
            await payments.attach_payment_method(
                payment_method_id=method.id, customer_id=stripe_customer
            )
            await pool.execute(
                """UPDATE payment_methods SET stripe_payment_method_id = $3
                   WHERE tenant_id = $1 AND id = $2""",
                tenant.id,
                card["id"],
                method.id,
            )
