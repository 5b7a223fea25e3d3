"""Cancel a subscription at the end of its period, or resume it, from the portal.

Only where the tenant turned it on (`portal.subscription_cancel_enabled`, off by
default); elsewhere these addresses do not exist. Cancelling first shows its
effect ("ends on <date>; you keep access until then") on a page of its own with
the button that confirms it, so it works without script. Another customer's
subscription is not found, like an unknown one.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from billing.subscription_changes import (
    SubscriptionNotChangeable,
    can_cancel,
    cancel_at_period_end,
    customer_subscription,
    resume,
)
from gateway.edge import keys
from gateway.edge.errors import NotFound
from portal.access import Visit, portal_page
from portal.notices import redirect_with_notice
from portal.views import day
from web.csrf import FIELD_NAME, verify_csrf_token
from web.stripe_pages import wants_json

routes = web.RouteTableDef()

SUBSCRIPTION_PATH = "/portal/{customer_id}/subscriptions/{subscription_id}"


def _require_self_service(visit: Visit) -> None:
    if not visit.tenant.portal.subscription_cancel_enabled:
        raise NotFound("there is no such page")


async def _verify_form(request: web.Request, visit: Visit) -> None:
    form = await request.post()
    token = form.get(FIELD_NAME) or request.headers.get("X-CSRF-Token")
    verify_csrf_token(
        request, customer_id=visit.customer.id, token=token if isinstance(token, str) else None
    )


@routes.get(SUBSCRIPTION_PATH + "/cancel")
@portal_page
async def confirm_cancel(request: web.Request, visit: Visit) -> web.StreamResponse:
    """What cancelling would do, and the button that does it."""
    _require_self_service(visit)
    subscription = await customer_subscription(
        request.config_dict[keys.POOL],
        tenant_id=visit.tenant.id,
        customer_id=visit.customer.id,
        subscription_id=request.match_info["subscription_id"],
    )
    if not can_cancel(subscription):
        raise redirect_with_notice(
            request, customer_id=visit.customer.id, key="subscription_unchanged"
        )
    context = {
        **visit.context(request),
        "subscription": subscription,
        "ends_on": day(visit, subscription.current_period_end),
    }
    return aiohttp_jinja2.render_template("portal/cancel_subscription.html", request, context)


async def _change(request: web.Request, visit: Visit, *, cancel: bool) -> web.StreamResponse:
    _require_self_service(visit)
    await _verify_form(request, visit)
    change = cancel_at_period_end if cancel else resume
    try:
        subscription = await change(
            request.config_dict[keys.POOL],
            tenant_id=visit.tenant.id,
            customer_id=visit.customer.id,
            subscription_id=request.match_info["subscription_id"],
        )
    except SubscriptionNotChangeable:
        if wants_json(request):
            raise
        raise redirect_with_notice(
            request, customer_id=visit.customer.id, key="subscription_unchanged"
        ) from None
    if wants_json(request):
        return web.json_response(
            {
                "subscription": subscription.id,
                "cancel_at_period_end": subscription.cancel_at_period_end,
            }
        )
    key = "subscription_canceled" if cancel else "subscription_resumed"
    raise redirect_with_notice(request, customer_id=visit.customer.id, key=key)


@routes.post(SUBSCRIPTION_PATH + "/cancel")
@portal_page
async def cancel(request: web.Request, visit: Visit) -> web.StreamResponse:
    """Stop the renewal; the subscription runs until the end of its current period."""
    return await _change(request, visit, cancel=True)


@routes.post(SUBSCRIPTION_PATH + "/resume")
@portal_page
async def resume_subscription(request: web.Request, visit: Visit) -> web.StreamResponse:
    """Take back the cancellation before the period ends: it renews as before."""
    return await _change(request, visit, cancel=False)
