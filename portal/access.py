"""Who may see a portal page: the tenant of the host, the customer, signed links and their cookie.

In `customer_id` mode the unguessable customer id in the path is the key. In
`signed` mode a visit starts from a link carrying a token
(`/portal/{customer_id}?token=...`); the token moves into a cookie and the
browser is sent to the same URL without it, so it does not linger in history,
logs or Referer headers. Without a valid cookie the page asks for a fresh link.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import aiohttp_jinja2
from aiohttp import web

from billing import portal_sessions
from billing.customers import Customer
from billing.formatting import format_day, format_money
from billing.portal_sessions import PortalLinkInvalid
from billing.portal_versions import CustomerReads
from gateway.edge import keys
from gateway.edge.branding import brand_context
from gateway.edge.errors import NotFound
from gateway.tenants.models import Tenant
from kernel import clock
from portal.notices import Notice, notice_for
from web import notices
from web.csrf import issue_csrf_token
from web.headers import apply_page_headers
from web.i18n import Translator, choose_language, translator


@dataclass(frozen=True, kw_only=True)
class Visit:
    """One request for a customer's portal: who, in which language, with which form token."""

    tenant: Tenant
    customer: Customer
    language: str
    i18n: Translator
    csrf_token: str
    # A one-time notice from the action that redirected here ("The card was removed.").
    notice: Notice | None = None
    # The customer's portal data version (billing.portal_versions): the page cache's key.
    data_version: int = 0

    def money(self, amount_minor: int, currency: str) -> str:
        return format_money(amount_minor, currency, self.language)

    def day(self, moment: datetime) -> str:
        return format_day(moment, self.language)

    def context(self, request: web.Request) -> dict[str, object]:
        """What every portal template receives."""
        return {
            "brand": brand_context(self.tenant),
            "tenant": self.tenant,
            "customer": self.customer,
            "language": self.language,
            "i18n": self.i18n,
            "csrf_token": self.csrf_token,
            "portal_path": f"/portal/{self.customer.id}",
            "notice": self.notice,
        }


PortalHandler = Callable[[web.Request, Visit], Awaitable[web.StreamResponse]]

# Set by the composition root with the pool: every portal request's customer read.
CUSTOMER_READS = web.AppKey("portal_customer_reads", CustomerReads)


def portal_tenant(request: web.Request) -> Tenant:
    """The tenant whose portal this host serves; NotFound where there is no portal."""
    tenant: Tenant | None = request.get(keys.TENANT)
    if tenant is None:
        raise NotFound("there is no portal at this address")
    return tenant


def session_cookie_name(request: web.Request, customer_id: str) -> str:
    # RFC 6265bis 4.1.3.2: a __Host- cookie is Secure, host-only and scoped to "/",
    # which only an HTTPS page may set.
    return f"__Host-portal_{customer_id}" if request.secure else f"portal_{customer_id}"


def _set_session_cookie(
    request: web.Request,
    response: web.StreamResponse,
    *,
    customer_id: str,
    token: str,
    expires_at: datetime,
) -> None:
    max_age = max(0, int((expires_at - clock.utc_now()).total_seconds()))
    response.set_cookie(
        session_cookie_name(request, customer_id),
        token,
        max_age=max_age,
        path="/" if request.secure else f"/portal/{customer_id}",
        secure=request.secure,
        httponly=True,
        samesite="Lax",
    )


def _link_required_page(request: web.Request, tenant: Tenant) -> web.StreamResponse:
    language = choose_language(request.headers.get("Accept-Language"), None)
    context = {
        "brand": brand_context(tenant),
        "tenant": tenant,
        "language": language,
        "i18n": translator(language),
    }
    response = aiohttp_jinja2.render_template(
        "portal/link_required.html", request, context, status=403
    )
    return apply_page_headers(response)


async def _signed_customer(
    request: web.Request, tenant: Tenant, customer_id: str
) -> tuple[Customer, int] | web.StreamResponse:
    """The customer a valid link or cookie opens; else a redirect or the fresh-link page."""
    pool = request.config_dict[keys.POOL]
    token = request.query.get("token")
    if token is not None and request.method == "GET":
        try:
            session = await portal_sessions.resolve_session(pool, tenant_id=tenant.id, token=token)
        except PortalLinkInvalid:
            return _link_required_page(request, tenant)
        if session.customer_id != customer_id:
            return _link_required_page(request, tenant)
        query = {name: value for name, value in request.query.items() if name != "token"}
        redirect = web.HTTPSeeOther(location=str(request.rel_url.with_query(query)))
        _set_session_cookie(
            request, redirect, customer_id=customer_id, token=token, expires_at=session.expires_at
        )
        apply_page_headers(redirect)
        raise redirect
    cookie = request.cookies.get(session_cookie_name(request, customer_id))
    if not cookie:
        return _link_required_page(request, tenant)
    try:
        opened = await portal_sessions.resolve(pool, tenant_id=tenant.id, token=cookie)
    except PortalLinkInvalid:
        return _link_required_page(request, tenant)
    if opened != customer_id:
        return _link_required_page(request, tenant)
    return await request.config_dict[CUSTOMER_READS].customer_with_version(
        tenant_id=tenant.id, customer_id=customer_id
    )


def portal_page(handler: PortalHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a portal handler: resolve tenant, customer and language, then add portal headers.

    Another tenant's customer id is NotFound, exactly like an unknown one.
    """

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        tenant = portal_tenant(request)
        customer_id = request.match_info["customer_id"]
        if tenant.portal.link_mode == "signed":
            found = await _signed_customer(request, tenant, customer_id)
            if isinstance(found, web.StreamResponse):
                return found
            customer, version = found
        else:
            customer, version = await request.config_dict[CUSTOMER_READS].customer_with_version(
                tenant_id=tenant.id, customer_id=customer_id
            )
        language = choose_language(request.headers.get("Accept-Language"), customer.language)
        i18n = translator(language)
        visit = Visit(
            tenant=tenant,
            customer=customer,
            language=language,
            i18n=i18n,
            csrf_token=issue_csrf_token(request, customer_id=customer.id),
            notice=notice_for(i18n, notices.pending_notice(request, owner=customer.id)),
            data_version=version,
        )
        try:
            response = await handler(request, visit)
        except web.HTTPRedirection as redirect:
            apply_page_headers(redirect)
            raise
        if response.content_type == "text/html":
            # The page showed the notice (or had none to show): a reload shows nothing.
            notices.clear_notice(request, response, path=f"/portal/{customer.id}")
        response.headers["Content-Language"] = language
        return apply_page_headers(response)

    return wrapper
