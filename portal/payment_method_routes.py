"""The customer's cards, as in Stripe's portal: choose the default, remove after confirming.

Removing asks first on a page of its own (it works without script): the card told
apart by brand, last four digits, expiry and the day it was added. When the card is
the last one paying a live subscription, that page explains what to do instead of
offering the button, and a forced POST gets the same explanation, never a bare
error page. After each change the overview shows a one-time notice.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from billing.payment_methods_service import (
    LastCardInUse,
    customer_card,
    removal_blocker,
    remove_card,
    set_default_card,
)
from gateway.edge import keys
from gateway.edge.errors import Conflict
from portal.access import Visit, portal_page
from portal.notices import redirect_with_notice
from portal.views import payment_method_view
from web.csrf import FIELD_NAME, verify_csrf_token
from web.stripe_pages import payments_for, wants_json

routes = web.RouteTableDef()

CARD_PATH = "/portal/{customer_id}/payment_methods/{payment_method_id}"


async def _verify_form(request: web.Request, visit: Visit) -> None:
    form = await request.post()
    token = form.get(FIELD_NAME) or request.headers.get("X-CSRF-Token")
    verify_csrf_token(
        request, customer_id=visit.customer.id, token=token if isinstance(token, str) else None
    )


def _refusal_text(visit: Visit, refusal: LastCardInUse) -> str:
    return visit.i18n.gettext(
        "This card pays for your %(plan)s subscription. "
        "Add a new card first; you can then remove this one.",
        plan=refusal.plan,
    )


async def _remove_page(
    request: web.Request, visit: Visit, *, refusal: LastCardInUse | None, status: int = 200
) -> web.Response:
    method = await customer_card(
        request.config_dict[keys.POOL],
        tenant_id=visit.tenant.id,
        customer_id=visit.customer.id,
        payment_method_id=request.match_info["payment_method_id"],
    )
    context = {
        **visit.context(request),
        "method": payment_method_view(visit, method),
        "refusal": _refusal_text(visit, refusal) if refusal else None,
        # Where the tenant allows it, the other way out: cancel what the card pays for.
        "cancel_path": (
            f"/portal/{visit.customer.id}/subscriptions/{refusal.subscription_id}/cancel"
            if refusal
            and refusal.subscription_id
            and visit.tenant.portal.subscription_cancel_enabled
            else None
        ),
    }
    return aiohttp_jinja2.render_template(
        "portal/remove_card.html", request, context, status=status
    )


@routes.get(CARD_PATH + "/remove")
@portal_page
async def confirm_removal(request: web.Request, visit: Visit) -> web.StreamResponse:
    """Which card would go, and a button to confirm; or why it cannot go yet."""
    refusal = await removal_blocker(
        request.config_dict[keys.POOL],
        tenant_id=visit.tenant.id,
        allow_no_payment_method=visit.tenant.portal.allow_no_payment_method,
        customer_id=visit.customer.id,
        payment_method_id=request.match_info["payment_method_id"],
    )
    return await _remove_page(request, visit, refusal=refusal)


@routes.post(CARD_PATH + "/delete")
@portal_page
async def delete_payment_method(request: web.Request, visit: Visit) -> web.StreamResponse:
    """Detach the card in Stripe, keep it in history, back to the overview with a notice."""
    tenant, customer = visit.tenant, visit.customer
    await _verify_form(request, visit)
    payments = await payments_for(request, tenant)
    try:
        removed = await remove_card(
            request.config_dict[keys.POOL],
            payments,
            tenant_id=tenant.id,
            allow_no_payment_method=tenant.portal.allow_no_payment_method,
            customer_id=customer.id,
            payment_method_id=request.match_info["payment_method_id"],
        )
    except LastCardInUse as refusal:
        if wants_json(request):
            raise Conflict(_refusal_text(visit, refusal)) from refusal
        # Explained in place, on the confirmation page, with the way forward.
        return await _remove_page(request, visit, refusal=refusal, status=409)
    if wants_json(request):
        return web.json_response({"payment_method": removed.id, "status": removed.status})
    raise redirect_with_notice(request, customer_id=customer.id, key="card_removed")


@routes.post(CARD_PATH + "/default")
@portal_page
async def make_default(request: web.Request, visit: Visit) -> web.StreamResponse:
    """Make this card the one future payments use."""
    await _verify_form(request, visit)
    method = await set_default_card(
        request.config_dict[keys.POOL],
        tenant_id=visit.tenant.id,
        customer_id=visit.customer.id,
        payment_method_id=request.match_info["payment_method_id"],
    )
    if wants_json(request):
        return web.json_response({"payment_method": method.id, "is_default": method.is_default})
    raise redirect_with_notice(request, customer_id=visit.customer.id, key="card_default")
