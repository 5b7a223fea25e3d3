"""Portal payment actions: add cards, buy wallet credits, and Stripe's webhooks.

Pages that load Stripe.js get a Content-Security-Policy that allows exactly the
configured Stripe.js origin and the Stripe API base, and nothing inline. Every
POST from a page checks the portal's CSRF token (form field `csrf_token` or the
`X-CSRF-Token` header); the webhook is authenticated by Stripe's signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from billing.customers import Customer
from billing.errors import InvalidInput
from billing.payment_methods_service import (
    default_card,
    save_card_from_setup_intent,
    start_card_setup,
)
from billing.stripe_gateway import PaymentsUnavailable
from billing.stripe_refunds import StripeRefunds
from billing.stripe_webhooks import endpoint_secret, handle_webhook
from billing.topup_policy import AmountRefused
from billing.topup_settlement import TopupOutcome
from billing.topups import buy_credits, complete_topup, new_nonce
from billing.wallets import Wallet, get_wallet
from gateway.edge import keys
from gateway.edge.errors import NotFound
from gateway.tenants.models import Tenant
from gateway.tenants.registry import (
    stripe_publishable_key,
    stripe_secret_key,
    stripe_webhook_secret,
)
from portal.access import Visit, portal_page
from portal.notices import attach_notice, redirect_with_notice
from web.amounts import parse_amount
from web.assets import StaticAssets
from web.csrf import FIELD_NAME, verify_csrf_token
from web.declines import decline_message
from web.labels import card_label
from web.stripe_pages import (
    payments_for,
    stripe_api_base,
    stripe_js_url,
    stripe_page_policy,
    wants_json,
)

routes = web.RouteTableDef()

ASSETS = StaticAssets("/portal-static", Path(__file__).parent / "static")
SCRIPT_URL = ASSETS.url("payments.js")
ASSETS.add_routes(routes)


async def _checked_form(request: web.Request, customer: Customer) -> Any:
    """The posted form, after its CSRF token was verified (Forbidden otherwise)."""
    form = await request.post()
    token = form.get(FIELD_NAME) or request.headers.get("X-CSRF-Token")
    verify_csrf_token(request, customer_id=customer.id, token=str(token) if token else None)
    return form


def _overview(customer: Customer) -> str:
    return f"/portal/{customer.id}"


@routes.get("/portal/{customer_id}/payment_methods/new")
@portal_page
async def new_payment_method(request: web.Request, visit: Visit) -> web.StreamResponse:
    """The page where Stripe.js collects a new card and confirms a SetupIntent."""
    publishable_key = await stripe_publishable_key(
        request.config_dict[keys.POOL], tenant_id=visit.tenant.id
    )
    if publishable_key is None:
        raise PaymentsUnavailable()
    context = {
        **visit.context(request),
        "publishable_key": publishable_key,
        "stripe_js_url": stripe_js_url(request),
        "script_url": SCRIPT_URL,
    }
    response = aiohttp_jinja2.render_template("portal/add_card.html", request, context)
    response.headers["Content-Security-Policy"] = stripe_page_policy(request)
    return response


@routes.post("/portal/{customer_id}/setup_intents")
@portal_page
async def create_setup_intent(request: web.Request, visit: Visit) -> web.Response:
    """A SetupIntent's client secret for Stripe.js's confirmCardSetup."""
    tenant, customer = visit.tenant, visit.customer
    await _checked_form(request, customer)
    payments = await payments_for(request, tenant)
    intent = await start_card_setup(
        request.config_dict[keys.POOL], payments, tenant_id=tenant.id, customer_id=customer.id
    )
    return web.json_response({"id": intent.id, "client_secret": intent.client_secret})


@routes.post("/portal/{customer_id}/payment_methods")
@portal_page
async def add_payment_method(request: web.Request, visit: Visit) -> web.StreamResponse:
    """Save the card of a confirmed SetupIntent as the new default."""
    tenant, customer = visit.tenant, visit.customer
    form = await _checked_form(request, customer)
    payments = await payments_for(request, tenant)
    try:
        method = await save_card_from_setup_intent(
            request.config_dict[keys.POOL],
            payments,
            tenant_id=tenant.id,
            customer_id=customer.id,
            setup_intent_id=str(form.get("setup_intent", "")),
        )
    except InvalidInput as error:
        raise InvalidInput(
            {
                "setup_intent": visit.i18n.gettext(
                    "The card was not saved: it was declined or not authenticated."
                )
            }
        ) from error
    if wants_json(request):
        saved = web.json_response(
            {
                "payment_method": {
                    "id": method.id,
                    "brand": method.brand,
                    "last4": method.last4,
                    "exp_month": method.exp_month,
                    "exp_year": method.exp_year,
                    "is_default": method.is_default,
                },
                "redirect": _overview(customer),
            }
        )
        # The script follows `redirect`; the overview then says the card was saved.
        attach_notice(request, saved, customer_id=customer.id, key="card_added")
        return saved
    raise redirect_with_notice(request, customer_id=customer.id, key="card_added")


async def _customer_wallet(request: web.Request, tenant: Tenant, customer: Customer) -> Wallet:
    wallet = await get_wallet(
        request.config_dict[keys.POOL],
        tenant_id=tenant.id,
        wallet_id=request.match_info["wallet_id"],
    )
    if wallet.customer_id != customer.id:
        raise NotFound("there is no such wallet")
    return wallet


async def _topup_page(
    request: web.Request,
    visit: Visit,
    *,
    wallet: Wallet,
    outcome: TopupOutcome | None,
    errors: Mapping[str, str] | None = None,
    amount_value: str = "",
    status: int = 200,
) -> web.Response:
    settings = visit.tenant.wallet
    pool = request.config_dict[keys.POOL]
    publishable_key = await stripe_publishable_key(pool, tenant_id=visit.tenant.id)
    card = await default_card(pool, tenant_id=visit.tenant.id, customer_id=visit.customer.id)
    context = {
        **visit.context(request),
        "publishable_key": publishable_key or "",
        "card": None if card is None else card_label(visit.i18n, card.brand, card.last4),
        "wallet": wallet,
        "balance": visit.money(outcome.balance if outcome else wallet.balance, wallet.currency),
        "minimum": visit.money(settings.topup_min, wallet.currency),
        "maximum": visit.money(settings.topup_max, wallet.currency),
        "topups_enabled": settings.topups_enabled,
        "nonce": new_nonce(),
        "outcome": outcome,
        "outcome_message": outcome_message(visit, outcome) if outcome else None,
        "errors": dict(errors or {}),
        "amount_value": amount_value,
        "stripe_js_url": stripe_js_url(request),
        "script_url": SCRIPT_URL,
    }
    response = aiohttp_jinja2.render_template(
        "portal/wallet_topup.html", request, context, status=status
    )
    response.headers["Content-Security-Policy"] = stripe_page_policy(request)
    return response


def outcome_message(visit: Visit, outcome: TopupOutcome) -> str:
    """What happened to the top-up, in the page's language (a refusal in the provider's words)."""
    if outcome.status == "succeeded":
        return visit.i18n.gettext(
            "%(amount)s was added to your wallet.",
            amount=visit.money(outcome.amount, outcome.currency),
        )
    if outcome.status == "requires_action":
        return visit.i18n.gettext("Your bank asks you to confirm this payment.")
    if outcome.status == "failed":
        reason = decline_message(visit.i18n, outcome.failure_code, outcome.message)
        if "Nothing was charged" in outcome.message:
            return reason
        return " ".join((reason, visit.i18n.gettext("Nothing was charged.")))
    return visit.i18n.gettext("Your payment is being processed.")


def topup_errors(visit: Visit, error: InvalidInput) -> dict[str, str]:
    """A refused top-up's field errors in the page's language."""
    i18n = visit.i18n
    if isinstance(error, AmountRefused):
        limit = visit.money(error.limit, error.currency)
        caps = {
            "topup_min": i18n.gettext("the smallest top-up is %(limit)s", limit=limit),
            "topup_max": i18n.gettext("the largest top-up is %(limit)s", limit=limit),
            "max_balance": i18n.gettext(
                "your balance may not exceed %(limit)s; you can add at most %(room)s",
                limit=limit,
                room=visit.money(error.room, error.currency),
            ),
        }
        return {"amount": caps[error.cap]}
    known = {
        "payment_method": i18n.gettext("add a card before buying credits"),
        "nonce": i18n.gettext("the form is out of date; reload the page and try again"),
    }
    return {name: known.get(name, message) for name, message in error.errors.items()}


def _outcome_json(visit: Visit, outcome: TopupOutcome) -> dict[str, Any]:
    return {
        "nonce": outcome.nonce,
        "status": outcome.status,
        "message": outcome_message(visit, outcome),
        "amount": outcome.amount,
        "currency": outcome.currency,
        "balance": outcome.balance,
        "payment_intent": outcome.payment_intent_id,
        "client_secret": outcome.client_secret,
        "invoice": outcome.invoice_id,
    }


@routes.get("/portal/{customer_id}/wallets/{wallet_id}/topup")
@portal_page
async def topup_form(request: web.Request, visit: Visit) -> web.Response:
    """The buy-credits form, with a fresh nonce; issuing it stores nothing."""
    tenant, customer = visit.tenant, visit.customer
    wallet = await _customer_wallet(request, tenant, customer)
    return await _topup_page(request, visit, wallet=wallet, outcome=None)


@routes.post("/portal/{customer_id}/wallets/{wallet_id}/topup")
@portal_page
async def topup(request: web.Request, visit: Visit) -> web.Response:
    """Charge the default card once for this form's nonce; the outcome as a page or JSON."""
    tenant, customer = visit.tenant, visit.customer
    form = await _checked_form(request, customer)
    wallet = await _customer_wallet(request, tenant, customer)
    payments = await payments_for(request, tenant)
    typed = str(form.get("amount", ""))
    try:
        outcome = await buy_credits(
            request.config_dict[keys.POOL],
            payments,
            tenant_id=tenant.id,
            policy=tenant.wallet,
            customer_id=customer.id,
            wallet_id=wallet.id,
            amount=parse_amount(typed, wallet.currency, i18n=visit.i18n),
            nonce=str(form.get("nonce", "")),
        )
    except InvalidInput as error:
        errors = topup_errors(visit, error)
        if wants_json(request):
            raise InvalidInput(errors) from error
        # Shown beside the amount, with what the customer typed and a fresh nonce.
        return await _topup_page(
            request,
            visit,
            wallet=wallet,
            outcome=None,
            errors=errors,
            amount_value=typed,
            status=422,
        )
    if wants_json(request):
        return web.json_response(_outcome_json(visit, outcome))
    return await _topup_page(request, visit, wallet=wallet, outcome=outcome)


@routes.post("/portal/{customer_id}/wallets/{wallet_id}/topup/complete")
@portal_page
async def topup_complete(request: web.Request, visit: Visit) -> web.Response:
    """After 3-D Secure in the page: settle the top-up from the PaymentIntent's real state."""
    tenant, customer = visit.tenant, visit.customer
    form = await _checked_form(request, customer)
    wallet = await _customer_wallet(request, tenant, customer)
    payments = await payments_for(request, tenant)
    outcome = await complete_topup(
        request.config_dict[keys.POOL],
        payments,
        tenant_id=tenant.id,
        customer_id=customer.id,
        wallet_id=wallet.id,
        nonce=str(form.get("nonce", "")),
    )
    if wants_json(request):
        return web.json_response(_outcome_json(visit, outcome))
    return await _topup_page(request, visit, wallet=wallet, outcome=outcome)


@routes.post("/stripe/webhooks/{tenant_slug}")
async def stripe_webhook(request: web.Request) -> web.Response:
    """The tenant's Stripe webhook endpoint, on the tenant's own host; 400 if not genuine."""
    tenant: Tenant | None = request.get(keys.TENANT)
    if tenant is None or tenant.slug != request.match_info["tenant_slug"]:
        raise NotFound("there is no webhook endpoint here")
    payload = await request.read()
    pool = request.config_dict[keys.POOL]
    sealer = request.config_dict[keys.SEALER]
    # The secret Stripe generated for the endpoint (set through the API); until the tenant
    # sets one, a secret derived from the KEK (what localstripe and local setups use).
    secret = await stripe_webhook_secret(pool, sealer, tenant_id=tenant.id)
    key = await stripe_secret_key(pool, sealer, tenant_id=tenant.id)
    refunds = None if key is None else StripeRefunds(api_key=key, api_base=stripe_api_base(request))
    result = await handle_webhook(
        pool,
        tenant_id=tenant.id,
        payload=payload,
        signature=request.headers.get("Stripe-Signature"),
        secret=secret or endpoint_secret(sealer, tenant_id=tenant.id),
        refunds=refunds,
    )
    return web.json_response({"received": True, "duplicate": result.duplicate})
