"""Paying an open invoice from the portal: the pay form's context, the charge, 3-D Secure.

The invoice page (portal/invoice_pages.py) shows the form built here; a plain
form post is answered with a redirect back to the invoice page naming the
attempt (`?payment=<nonce>`), where its outcome is shown and, for 3-D Secure,
finished by payments.js. The page script posts with `Accept: application/json`
and gets the outcome itself. The domain logic is billing/invoice_payments.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing.errors import Conflict, InvalidInput
from billing.invoice_payment_attempts import (
    INVOICE_CLOSED,
    InvoicePaymentOutcome,
    complete_invoice_payment,
    payment_attempt,
)
from billing.invoice_payment_refunds import INVOICE_VOIDED, refund_closed_payment
from billing.invoice_payments import new_nonce, pay_invoice
from billing.invoice_settlement import invoice_payment
from billing.invoice_wallet_payments import pay_invoice_with_wallet, payable_wallet
from billing.invoices import Invoice
from billing.payment_methods import active_payment_methods
from gateway.edge import keys
from gateway.tenants.registry import stripe_publishable_key
from portal.access import Visit, portal_page
from portal.payment_routes import SCRIPT_URL
from portal.views import day, money, payment_method_view
from web.csrf import FIELD_NAME, verify_csrf_token
from web.declines import decline_message
from web.labels import card_label
from web.stripe_pages import payments_for, refunds_for, stripe_js_url, wants_json

routes = web.RouteTableDef()


def outcome_message(visit: Visit, outcome: InvoicePaymentOutcome) -> str:
    """What happened to the payment, in the page's language."""
    i18n = visit.i18n
    if outcome.status == "succeeded":
        return i18n.gettext(
            "Thank you: %(amount)s was paid on %(date)s.",
            amount=money(visit, outcome.amount, outcome.currency),
            date=day(visit, outcome.paid_at) if outcome.paid_at else "",
        )
    if outcome.status == "requires_action":
        return i18n.gettext("Your bank asks you to confirm this payment.")
    if outcome.status == "failed" and outcome.failure_code == INVOICE_CLOSED:
        return i18n.gettext(
            "This invoice was closed while you paid; your payment will be refunded."
        )
    if outcome.status == "failed" and outcome.failure_code == INVOICE_VOIDED:
        return i18n.gettext("This invoice was voided before you confirmed. Nothing was charged.")
    if outcome.status == "failed":
        reason = decline_message(i18n, outcome.failure_code, outcome.failure_message or "")
        return " ".join(part for part in (reason, i18n.gettext("Nothing was charged.")) if part)
    return i18n.gettext("Your payment is being processed.")


def _outcome_json(visit: Visit, outcome: InvoicePaymentOutcome) -> dict[str, Any]:
    return {
        "nonce": outcome.nonce,
        "invoice": outcome.invoice_id,
        "status": outcome.status,
        "message": outcome_message(visit, outcome),
        "amount": outcome.amount,
        "currency": outcome.currency,
        "payment_intent": outcome.payment_intent_id,
        "client_secret": outcome.client_secret,
        # A refused attempt is final for its nonce: trying again takes a fresh one.
        "retry_nonce": new_nonce() if outcome.status == "failed" else None,
    }


def paid_with_label(visit: Visit, paid_with: str | None, detail: str | None) -> str | None:
    """ "Visa ending in 4242" or "Wallet credits", in the page's language."""
    if paid_with == "card" and detail and " " in detail:
        brand, last4 = detail.rsplit(" ", 1)
        return card_label(visit.i18n, brand, last4)
    if paid_with == "wallet":
        return visit.i18n.gettext("Wallet credits")
    return None


async def payment_context(request: web.Request, visit: Visit, invoice: Invoice) -> dict[str, Any]:
    """What the invoice page needs to offer payment (open) or say how it was paid (paid).

    `stripe` is True when the page must load Stripe.js (and its CSP).
    """
    pool = request.config_dict[keys.POOL]
    tenant_id = visit.tenant.id
    context: dict[str, Any] = {"payable": False, "stripe": False, "paid_with": None}
    outcome = None
    nonce = request.query.get("payment")
    if nonce:
        payments = await payments_for(request, visit.tenant)
        outcome = await payment_attempt(
            pool, payments, tenant_id=tenant_id, invoice_id=invoice.id, nonce=nonce
        )
    context["outcome"] = outcome
    context["outcome_message"] = outcome_message(visit, outcome) if outcome else None
    if invoice.status == "paid":
        paid = await invoice_payment(pool, tenant_id=tenant_id, invoice_id=invoice.id)
        if paid is not None:
            context["paid_with"] = paid_with_label(visit, paid.paid_with, paid.detail)
        return context
    publishable_key = await stripe_publishable_key(pool, tenant_id=tenant_id)
    if invoice.status != "open" or invoice.amount_due <= 0 or publishable_key is None:
        return context
    methods = await active_payment_methods(pool, tenant_id=tenant_id, customer_id=visit.customer.id)
    context.update(
        payable=True,
        stripe=True,
        publishable_key=publishable_key,
        stripe_js_url=stripe_js_url(request),
        script_url=SCRIPT_URL,
        nonce=new_nonce(),
        amount_due=money(visit, invoice.amount_due, invoice.currency),
        cards=[
            payment_method_view(visit, item)
            for item in methods
            if item.stripe_payment_method_id is not None
        ],
        wallet=None,
    )
    if visit.tenant.wallet.pays_invoices:
        wallet = await payable_wallet(
            pool,
            tenant_id=tenant_id,
            customer_id=visit.customer.id,
            currency=invoice.currency,
            amount=invoice.amount_due,
        )
        if wallet is not None:
            context["wallet"] = {
                "id": wallet.id,
                "label": visit.i18n.gettext(
                    "Wallet credits (%(balance)s available)",
                    balance=money(visit, wallet.balance, wallet.currency),
                ),
            }
    return context


async def _checked_form(request: web.Request, visit: Visit) -> Any:
    form = await request.post()
    token = form.get(FIELD_NAME) or request.headers.get("X-CSRF-Token")
    verify_csrf_token(request, customer_id=visit.customer.id, token=str(token) if token else None)
    return form


def _invoice_path(visit: Visit, invoice_id: str) -> str:
    return f"/portal/{visit.customer.id}/invoices/{invoice_id}"


@routes.post("/portal/{customer_id}/invoices/{invoice_id}/pay")
@portal_page
async def pay(request: web.Request, visit: Visit) -> web.StreamResponse:
    """Charge the chosen card, or debit the wallet, once per form nonce; the outcome."""
    form = await _checked_form(request, visit)
    invoice_id = request.match_info["invoice_id"]
    payments = await payments_for(request, visit.tenant)
    nonce = str(form.get("nonce", ""))
    method = str(form.get("payment_method", "")) or None
    pool = request.config_dict[keys.POOL]
    try:
        if method is not None and method.startswith("wal_"):
            outcome = await pay_invoice_with_wallet(
                pool,
                tenant_id=visit.tenant.id,
                allowed=visit.tenant.wallet.pays_invoices,
                customer_id=visit.customer.id,
                invoice_id=invoice_id,
                wallet_id=method,
                nonce=nonce,
            )
        else:
            outcome = await pay_invoice(
                pool,
                payments,
                tenant_id=visit.tenant.id,
                customer_id=visit.customer.id,
                invoice_id=invoice_id,
                nonce=nonce,
                payment_method_id=None if method == "new" else method,
            )
    except InvalidInput as error:
        wallet_chosen = method is not None and method.startswith("wal_")
        card_message = visit.i18n.gettext("Add a card to pay this invoice.")
        wallet_message = (
            visit.i18n.gettext("Your credits do not cover this invoice.")
            if visit.tenant.wallet.pays_invoices
            else visit.i18n.gettext("Credits cannot pay invoices here.")
        )
        known = {
            "payment_method": wallet_message if wallet_chosen else card_message,
            "nonce": visit.i18n.gettext("the form is out of date; reload the page and try again"),
        }
        raise InvalidInput(
            {name: known.get(name, message) for name, message in error.errors.items()}
        ) from error
    except Conflict as error:
        raise Conflict(visit.i18n.gettext("This invoice can no longer be paid.")) from error
    if wants_json(request):
        return web.json_response(_outcome_json(visit, outcome))
    raise web.HTTPSeeOther(f"{_invoice_path(visit, invoice_id)}?payment={outcome.nonce}")


@routes.post("/portal/{customer_id}/invoices/{invoice_id}/pay/complete")
@portal_page
async def pay_complete(request: web.Request, visit: Visit) -> web.StreamResponse:
    """After 3-D Secure in the page: settle the payment from the PaymentIntent's real state."""
    form = await _checked_form(request, visit)
    invoice_id = request.match_info["invoice_id"]
    refunds = await refunds_for(request, visit.tenant)
    pool = request.config_dict[keys.POOL]
    outcome = await complete_invoice_payment(
        pool,
        refunds,
        tenant_id=visit.tenant.id,
        customer_id=visit.customer.id,
        invoice_id=invoice_id,
        nonce=str(form.get("nonce", "")),
    )
    if outcome.failure_code == INVOICE_CLOSED:  # voided while the bank asked: refunded
        await refund_closed_payment(pool, refunds, tenant_id=visit.tenant.id, nonce=outcome.nonce)
    if wants_json(request):
        return web.json_response(_outcome_json(visit, outcome))
    raise web.HTTPSeeOther(f"{_invoice_path(visit, invoice_id)}?payment={outcome.nonce}")
