"""The completed checkout page's words: what was paid, and what comes next."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from billing.checkout_sessions import CheckoutSession
from billing.checkout_settlement import success_redirect
from billing.formatting import format_day, format_money
from billing.subscriptions import get_subscription
from gateway.edge import keys
from kernel.db import Db
from web.i18n import Translator


async def closed_context(
    request: web.Request, tenant_id: int, session: CheckoutSession, language: str, i18n: Translator
) -> dict[str, Any]:
    """What the page of a complete or expired session adds: where to continue, what was paid."""
    if session.status != "complete":
        return {"success_url": None}
    success_url = success_redirect(session)
    summary = await completed_summary(
        request.config_dict[keys.POOL], tenant_id, session, language, i18n
    )
    # A success URL that is this very page would only lead back here.
    return {
        "success_url": None if leads_here(request, success_url) else success_url,
        "completed": summary,
    }


def leads_here(request: web.Request, url: str | None) -> bool:
    """Whether `url` is the page being served (a success URL that would only loop back)."""
    if url is None:
        return False
    parts = urlsplit(url)
    return (parts.netloc.lower(), parts.path) == (request.host.lower(), request.path)


async def completed_summary(
    db: Db, tenant_id: int, session: CheckoutSession, language: str, i18n: Translator
) -> dict[str, str | None]:
    """What a complete session paid and what comes next (a trial's end, the next payment)."""
    paid = (
        i18n.gettext(
            "You paid %(amount)s on %(date)s.",
            amount=format_money(session.amount_total, session.currency, language),
            date=format_day(session.completed_at or session.updated_at, language),
        )
        if session.amount_total
        else i18n.gettext("Nothing was charged today.")
    )
    upcoming = None
    if session.subscription_id is not None:
        subscription = await get_subscription(
            db,
            tenant_id=tenant_id,
            subscription_id=session.subscription_id,
        )
        recurring = sum(
            item.amount + item.tax for item in session.line_items if item.interval is not None
        )
        amount = format_money(recurring, session.currency, language)
        if subscription.status == "trialing" and subscription.trial_end is not None:
            upcoming = i18n.gettext(
                "Your free trial ends on %(date)s; your card is then charged %(amount)s.",
                date=format_day(subscription.trial_end, language),
                amount=amount,
            )
        elif subscription.status == "active":
            upcoming = i18n.gettext(
                "Your next payment of %(amount)s is due on %(date)s.",
                amount=amount,
                date=format_day(subscription.current_period_end, language),
            )
    return {"paid": paid, "upcoming": upcoming}
