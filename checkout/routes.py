"""Hosted checkout pages on a tenant's host: the payment page, billing details, completion.

`GET /checkout/{session_id}` shows an open session's summary, billing form and
card entry (Stripe.js), or a clear page without any form once it is complete or
expired. The page script then posts the billing details (which returns a
SetupIntent for Stripe.js to save the card on) and asks for completion; the
server charges, and answers with where to go next. Another tenant's session is
404 like an unknown one. Every POST carries a CSRF token bound to the session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from billing.checkout_billing_info import save_billing_information
from billing.checkout_completion import complete_checkout, start_checkout_card_setup
from billing.checkout_line_items import CheckoutLineItem
from billing.checkout_sessions import CheckoutSession, get_checkout_session
from billing.checkout_settlement import CheckoutOutcome
from billing.customers import Customer, get_customer
from billing.errors import NotFound as BillingNotFound
from billing.formatting import format_day, format_money, format_rate
from billing.stripe_gateway import PaymentsUnavailable
from checkout.completed import closed_context
from gateway.edge import keys
from gateway.edge.branding import brand_context
from gateway.edge.errors import NotFound
from gateway.tenants.models import Tenant
from gateway.tenants.registry import stripe_publishable_key
from web.assets import BILLING_FORM_SCRIPT, StaticAssets
from web.billing_form import (
    billing_changes,
    customer_values,
    input_messages,
    prepare_billing_form,
    submitted_values,
)
from web.csrf import FIELD_NAME, issue_csrf_token, verify_csrf_token
from web.headers import apply_page_headers
from web.i18n import Translator, choose_language, translator
from web.labels import interval_label
from web.stripe_pages import (
    payments_for,
    refunds_for,
    stripe_js_url,
    stripe_page_policy,
    wants_json,
)

routes = web.RouteTableDef()

ASSETS = StaticAssets("/checkout-static", Path(__file__).parent / "static")
ASSETS.add_routes(routes)


def _tenant(request: web.Request) -> Tenant:
    tenant: Tenant | None = request.get(keys.TENANT)
    if tenant is None:
        raise NotFound("there is no checkout at this address")
    return tenant


async def _session(request: web.Request, tenant: Tenant) -> CheckoutSession:
    """The tenant's session named in the path; another tenant's id is simply not found."""
    try:
        return await get_checkout_session(
            request.config_dict[keys.POOL],
            tenant_id=tenant.id,
            session_id=request.match_info["session_id"],
        )
    except BillingNotFound:
        raise NotFound("there is no checkout at this address") from None


async def _customer(
    request: web.Request, tenant: Tenant, session: CheckoutSession
) -> Customer | None:
    if session.customer_id is None:
        return None
    return await get_customer(
        request.config_dict[keys.POOL], tenant_id=tenant.id, customer_id=session.customer_id
    )


def _language(request: web.Request, session: CheckoutSession, customer: Customer | None) -> str:
    own = customer.language if customer else (session.customer_details or {}).get("language")
    return choose_language(request.headers.get("Accept-Language"), own)


def _prefill(session: CheckoutSession, customer: Customer | None) -> dict[str, str]:
    if customer is None:
        details = session.customer_details or {}
        return {
            "name": details.get("name", ""),
            "email": details.get("email", ""),
            "country": details.get("country", ""),
        }
    return customer_values(customer, language=False)


def _summary(session: CheckoutSession, language: str, i18n: Translator) -> dict[str, Any]:
    """Items with their tax, the totals, the recurring terms and the trial, as the page prints them.

    Amounts per item are before tax; the recurring terms quote what each period
    costs with its tax, like the total due today.
    """

    def money(amount: int) -> str:
        return format_money(amount, session.currency, language)

    return {
        "rows": [_item_row(item, money, language, i18n) for item in session.line_items],
        "terms": _recurring_terms(session, money, i18n),
        "taxed": any(item.tax_rate_bps for item in session.line_items),
        "subtotal": money(session.amount_subtotal),
        "tax": money(session.amount_tax),
        "due_today": money(session.amount_total),
        "pay_label": i18n.gettext("Pay %(amount)s", amount=money(session.amount_total))
        if session.amount_total
        else i18n.gettext("Start free trial"),
    }


def _item_row(
    item: CheckoutLineItem, money: Callable[[int], str], language: str, i18n: Translator
) -> dict[str, Any]:
    """One item as the summary lists it: amount before tax, its tax, how often it is charged."""
    return {
        "name": item.name,
        "quantity": item.quantity,
        "amount": money(item.amount),
        "tax": i18n.pgettext(
            "checkout",
            "Tax %(rate)s: %(amount)s",
            rate=format_rate(item.tax_rate_bps, language),
            amount=money(item.tax),
        )
        if item.tax_rate_bps
        else None,
        "terms": i18n.gettext(
            "every %(interval)s", interval=interval_label(i18n, item.interval, item.interval_count)
        )
        if item.interval
        else i18n.gettext("once"),
    }


def _recurring_terms(
    session: CheckoutSession, money: Callable[[int], str], i18n: Translator
) -> str | None:
    """What each period costs with tax after today (and the trial); None when nothing recurs."""
    recurring = [item for item in session.line_items if item.interval is not None]
    if not recurring:
        return None
    last = recurring[-1]
    assert last.interval is not None
    interval = interval_label(i18n, last.interval, last.interval_count)
    total = sum(item.amount + item.tax for item in recurring)
    if session.trial_days:
        return i18n.ngettext(
            "Free for %(num)d day, then %(amount)s every %(interval)s.",
            "Free for %(num)d days, then %(amount)s every %(interval)s.",
            session.trial_days,
            amount=money(total),
            interval=interval,
        )
    return i18n.gettext(
        "Then %(amount)s every %(interval)s, until you cancel.",
        amount=money(total),
        interval=interval,
    )


async def _render_page(
    request: web.Request,
    tenant: Tenant,
    session: CheckoutSession,
    *,
    values: Mapping[str, str] | None = None,
    failure: str | None = None,
    status: int = 200,
) -> web.Response:
    customer = await _customer(request, tenant, session)
    language = _language(request, session, customer)
    i18n = translator(language)
    context: dict[str, Any] = {
        "brand": brand_context(tenant),
        "tenant": tenant,
        "session": session,
        "language": language,
        "i18n": i18n,
        "summary": _summary(session, language, i18n),
        "cancel_url": session.cancel_url,
    }
    if session.status != "open":
        context.update(await closed_context(request, tenant.id, session, language, i18n))
        response = aiohttp_jinja2.render_template(
            "checkout/closed.html", request, context, status=status
        )
    else:
        publishable_key = await stripe_publishable_key(
            request.config_dict[keys.POOL], tenant_id=tenant.id
        )
        if publishable_key is None:
            raise PaymentsUnavailable()
        context.update(
            {
                "form": prepare_billing_form(
                    language,
                    values={**_prefill(session, customer), **(values or {})},
                    messages=input_messages(i18n),
                ),
                "card_message": i18n.gettext("Check your card details."),
                "failure": failure,
                "expires_on": format_day(session.expires_at, language),
                "csrf_token": issue_csrf_token(request, customer_id=session.id),
                "publishable_key": publishable_key,
                "stripe_js_url": stripe_js_url(request),
                "script_url": ASSETS.url("checkout.js"),
                "billing_form_script_url": BILLING_FORM_SCRIPT,
                "base_path": f"/checkout/{session.id}",
            }
        )
        response = aiohttp_jinja2.render_template(
            "checkout/page.html", request, context, status=status
        )
        response.headers["Content-Security-Policy"] = stripe_page_policy(request)
    response.headers["Content-Language"] = language
    apply_page_headers(response)
    return response


async def _checked_form(request: web.Request, session: CheckoutSession) -> Any:
    """The posted form, after its CSRF token (bound to this session) was verified."""
    form = await request.post()
    token = form.get(FIELD_NAME) or request.headers.get("X-CSRF-Token")
    verify_csrf_token(request, customer_id=session.id, token=str(token) if token else None)
    return form


@routes.get("/checkout/{session_id}")
async def checkout_page(request: web.Request) -> web.Response:
    """The payment page of an open session, or a page saying it is complete or expired."""
    tenant = _tenant(request)
    session = await _session(request, tenant)
    return await _render_page(request, tenant, session)


@routes.post("/checkout/{session_id}/customer")
async def checkout_customer(request: web.Request) -> web.Response:
    """Store the billing details, then a SetupIntent's client secret for confirmCardSetup.

    Field errors come back as a 422 problem document naming each field.
    """
    tenant = _tenant(request)
    session = await _session(request, tenant)
    form = await _checked_form(request, session)
    pool = request.config_dict[keys.POOL]
    payments = await payments_for(request, tenant)
    await save_billing_information(
        pool,
        tenant_id=tenant.id,
        session_id=session.id,
        billing=billing_changes(submitted_values(form, language=False)),
    )
    intent = await start_checkout_card_setup(
        pool, payments, tenant_id=tenant.id, session_id=session.id
    )
    return _no_store(
        web.json_response({"setup_intent": intent.id, "client_secret": intent.client_secret})
    )


def outcome_message(outcome: CheckoutOutcome, i18n: Translator) -> str:
    """What the customer reads about an outcome, in their language.

    A decline keeps the provider's reason in English pages (it names the cause);
    other languages get a translated sentence rather than a mixed-language one.
    """
    if outcome.status == "succeeded":
        return i18n.gettext("Payment complete. Thank you!")
    if outcome.status == "requires_action":
        return i18n.gettext("Your bank asks you to confirm this payment.")
    if outcome.status == "processing":
        return i18n.gettext(
            "Your bank has not confirmed the payment yet. "
            "Reload this page in a moment to see the result."
        )
    return (
        outcome.message
        if i18n.language == "en"
        else i18n.gettext("Nothing was charged. Try again or use another card.")
    )


def _outcome_json(outcome: CheckoutOutcome, message: str) -> dict[str, Any]:
    return {
        "checkout_session": outcome.session_id,
        "status": outcome.status,
        "message": message,
        "redirect": outcome.redirect_url,
        "client_secret": outcome.client_secret,
        "payment_intent": outcome.payment_intent_id,
    }


@routes.post("/checkout/{session_id}/complete")
async def checkout_complete(request: web.Request) -> web.StreamResponse:
    """Charge the saved card once and complete the session; say what happened.

    The page script gets JSON; a plain form post is redirected to the success
    URL, or sees the page again with the reason of a decline.
    """
    tenant = _tenant(request)
    session = await _session(request, tenant)
    form = await _checked_form(request, session)
    payments = await payments_for(request, tenant)
    setup_intent = form.get("setup_intent")
    # The PaymentIntent this tab authenticated (3-D Secure): if another tab paid the
    # session meanwhile and this one was charged too, completion refunds it.
    payment_intent = form.get("payment_intent")
    outcome = await complete_checkout(
        request.config_dict[keys.POOL],
        payments,
        tenant_id=tenant.id,
        session_id=session.id,
        setup_intent_id=setup_intent if isinstance(setup_intent, str) else None,
        payment_intent_id=payment_intent
        if isinstance(payment_intent, str) and payment_intent.startswith("pi_")
        else None,
        refunds=await refunds_for(request, tenant),
    )
    customer = await _customer(request, tenant, session)
    language = _language(request, session, customer)
    i18n = translator(language)
    message = outcome_message(outcome, i18n)
    if wants_json(request):
        return _no_store(web.json_response(_outcome_json(outcome, message)))
    if outcome.status == "succeeded" and outcome.redirect_url:
        raise web.HTTPSeeOther(location=outcome.redirect_url)
    session = await _session(request, tenant)
    return await _render_page(
        request,
        tenant,
        session,
        failure=i18n.gettext("The payment did not go through: %(reason)s", reason=message)
        if outcome.status == "failed"
        else message,
        status=402 if outcome.status == "failed" else 200,
    )


def _no_store(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = "no-store"
    return response
