"""Signing in to the settings page with an API key, and signing out."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from gateway.dashboard import sessions
from gateway.dashboard.auth import (
    CSRF_FIELD,
    NO_STORE,
    SIGN_IN_COOKIE_LIFETIME,
    SIGN_IN_PATH,
    Desk,
    asset_urls,
    clear_session_cookie,
    dashboard_brand,
    language_of,
    new_sign_in_nonce,
    session_cookie_name,
    set_cookie,
    set_session_cookie,
    sign_in_cookie_name,
    sign_in_csrf_token,
    signed_in,
    text_field,
    verify_token,
)
from gateway.edge import keys
from gateway.edge.app_host import PREFIX
from gateway.tenants.errors import InvalidApiKey
from web.origin import check_same_origin

routes = web.RouteTableDef()

HOME_PATH = PREFIX + "/domains"


def _client_address(request: web.Request) -> str:
    return request.remote or "unknown"


def _sign_in_page(
    request: web.Request, *, error: str | None, notice: str | None, status: int
) -> web.StreamResponse:
    """The sign-in form with a fresh double-submit cookie and its token."""
    language, i18n = language_of(request)
    nonce = new_sign_in_nonce()
    context = {
        "brand": dashboard_brand(None),
        "language": language,
        "i18n": i18n,
        "prefix": PREFIX,
        "assets": asset_urls(request),
        "csrf_token": sign_in_csrf_token(request, nonce),
        "error": error,
        "notice": notice,
    }
    response = aiohttp_jinja2.render_template(
        "dashboard/sign_in.html", request, context, status=status
    )
    set_cookie(request, response, sign_in_cookie_name(request), nonce, SIGN_IN_COOKIE_LIFETIME)
    response.headers["Cache-Control"] = NO_STORE
    response.headers["Content-Language"] = language
    return response


@routes.get("")
@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    """The settings page's home: the domains section."""
    raise web.HTTPSeeOther(location=HOME_PATH)


@routes.get("/sign-in")
async def sign_in_form(request: web.Request) -> web.StreamResponse:
    """The sign-in form; already signed-in browsers go straight to their settings."""
    token = request.cookies.get(session_cookie_name(request), "")
    if token and await sessions.resolve_session(request.config_dict[keys.POOL], token):
        raise web.HTTPSeeOther(location=HOME_PATH)
    _, i18n = language_of(request)
    notice = i18n.gettext("You are signed out.") if request.query.get("signed_out") == "1" else None
    return _sign_in_page(request, error=None, notice=notice, status=200)


@routes.post("/sign-in")
async def sign_in(request: web.Request) -> web.StreamResponse:
    """Exchange the API key for a session cookie; failures are counted per client address."""
    check_same_origin(request)
    form = await request.post()
    nonce = request.cookies.get(sign_in_cookie_name(request), "")
    verify_token(sign_in_csrf_token(request, nonce) if nonce else "", form.get(CSRF_FIELD))
    pool = request.config_dict[keys.POOL]
    _, i18n = language_of(request)
    address = _client_address(request)
    wait = await sessions.seconds_until_allowed(pool, client_address=address)
    if wait:
        response = _sign_in_page(
            request,
            error=i18n.ngettext(
                "Too many failed sign-ins from your network. Try again in %(num)d minute.",
                "Too many failed sign-ins from your network. Try again in %(num)d minutes.",
                max(1, -(-wait // 60)),
            ),
            notice=None,
            status=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        _, token, _ = await sessions.sign_in(pool, api_key=text_field(form, "api_key"))
    except InvalidApiKey:
        await sessions.record_failed_sign_in(pool, client_address=address)
        return _sign_in_page(
            request,
            error=i18n.gettext("This API key is unknown or has been revoked."),
            notice=None,
            status=403,
        )
    redirect = web.HTTPSeeOther(location=HOME_PATH)
    set_session_cookie(request, redirect, token)
    redirect.del_cookie(sign_in_cookie_name(request), path="/")
    raise redirect


@routes.post("/sign-out")
@signed_in
async def sign_out(request: web.Request, desk: Desk) -> web.StreamResponse:
    """End the session on the server and drop the cookie."""
    await sessions.sign_out(request.config_dict[keys.POOL], desk.session)
    redirect = web.HTTPSeeOther(location=SIGN_IN_PATH + "?signed_out=1")
    clear_session_cookie(request, redirect)
    raise redirect
