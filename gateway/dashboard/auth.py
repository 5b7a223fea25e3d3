"""Who is signed in to the settings page: the session cookie, CSRF tokens and the page context.

The session cookie is `__Host-gateway_settings` on HTTPS (RFC 6265bis 4.1.3.2:
Secure, no Domain, Path=/, so no sibling host can set or read it); on plain
HTTP (local development on app.localhost) it is `gateway_settings`, with the
same HttpOnly and SameSite=Lax attributes. Every POST carries a CSRF token: for
signed-in forms an HMAC of the session, for the sign-in form an HMAC of a
random cookie set with the form (double submit, against login CSRF). A POST
whose Origin (or Referer) names another host is refused as well.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from gateway import keys
from gateway.branding import NEUTRAL_COLOR
from gateway.dashboard.paths import PREFIX
from gateway.dashboard.sessions import SESSION_LIFETIME, DashboardSession, resolve_session
from gateway.errors import Forbidden, Unauthorized
from gateway.tenants.models import Tenant
from gateway.tenants.registry import get_tenant
from kernel.colors import contrast_color
from web.i18n import Translator, choose_language, translator
from web.origin import check_same_origin

SIGN_IN_PATH = PREFIX + "/sign-in"
CSRF_FIELD = "csrf_token"
_CSRF_PURPOSE = "dashboard:csrf:v1"
SIGN_IN_COOKIE_LIFETIME = 3600
# Pages show a tenant's settings and secrets: never kept by the browser or a proxy.
NO_STORE = "no-store"


def session_cookie_name(request: web.BaseRequest) -> str:
    return "__Host-gateway_settings" if request.secure else "gateway_settings"


def sign_in_cookie_name(request: web.BaseRequest) -> str:
    return "__Host-gateway_sign_in" if request.secure else "gateway_sign_in"


def set_cookie(
    request: web.BaseRequest, response: web.StreamResponse, name: str, value: str, max_age: int
) -> None:
    """A host-only, HttpOnly, SameSite=Lax cookie for the whole host; Secure on HTTPS."""
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=request.secure, httponly=True, samesite="Lax"
    )


def set_session_cookie(request: web.BaseRequest, response: web.StreamResponse, token: str) -> None:
    set_cookie(
        request,
        response,
        session_cookie_name(request),
        token,
        int(SESSION_LIFETIME.total_seconds()),
    )


def clear_session_cookie(request: web.BaseRequest, response: web.StreamResponse) -> None:
    response.del_cookie(
        session_cookie_name(request),
        path="/",
        secure=request.secure,
        httponly=True,
        samesite="Lax",
    )


def _hmac(request: web.Request, message: bytes) -> str:
    key = request.config_dict[keys.SEALER].derive_key(_CSRF_PURPOSE)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def session_csrf_token(request: web.Request, session: DashboardSession) -> str:
    """The token every form of this session carries."""
    return _hmac(request, b"session\x00" + session.token_hash)


def sign_in_csrf_token(request: web.Request, nonce: str) -> str:
    """The token of the sign-in form shown with the cookie holding `nonce`."""
    return _hmac(request, b"sign-in\x00" + nonce.encode())


def new_sign_in_nonce() -> str:
    return secrets.token_urlsafe(24)


def verify_token(expected: str, given: object) -> None:
    if not isinstance(given, str) or not given:
        raise Forbidden("the form has no security token; reload the page and try again")
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Forbidden("the form's security token is not valid; reload the page and try again")


def dashboard_brand(tenant: Tenant | None) -> dict[str, Any]:
    """The settings page's own chrome: neutral colours, the tenant's name."""
    return {
        "name": None if tenant is None else tenant.name,
        "color": NEUTRAL_COLOR,
        "contrast": contrast_color(NEUTRAL_COLOR),
        "icon_url": None,
        "icon_type": None,
    }


@dataclass(frozen=True, kw_only=True)
class Desk:
    """One signed-in request: the tenant (read fresh), its session, language and form token."""

    tenant: Tenant
    session: DashboardSession
    language: str
    i18n: Translator
    csrf_token: str
    assets: dict[str, str]

    def context(self, current: str, **values: Any) -> dict[str, Any]:
        """What every signed-in template receives."""
        return {
            "brand": dashboard_brand(self.tenant),
            "tenant": self.tenant,
            "language": self.language,
            "i18n": self.i18n,
            "csrf_token": self.csrf_token,
            "current": current,
            "prefix": PREFIX,
            "assets": self.assets,
            **values,
        }


def asset_urls(request: web.Request) -> dict[str, str]:
    """URLs of the page's script and style sheet, versioned by their content."""
    static = request.app.router["static"]
    return {name: str(static.url_for(filename=f"dashboard.{name}")) for name in ("js", "css")}


def language_of(request: web.Request) -> tuple[str, Translator]:
    language = choose_language(request.headers.get("Accept-Language"), None)
    return language, translator(language)


def wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


DeskHandler = Callable[[web.Request, Desk], Awaitable[web.StreamResponse]]


def signed_in(handler: DeskHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a handler: require a live session (GET without one: to the sign-in form).

    POSTs are checked for their origin and CSRF token before the handler runs,
    so a handler reads the form with `await request.post()` knowing it is genuine.
    """

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        pool = request.config_dict[keys.POOL]
        token = request.cookies.get(session_cookie_name(request), "")
        session = await resolve_session(pool, token) if token else None
        if request.method == "POST":
            check_same_origin(request)
            form = await request.post()
            if session is None:
                raise Forbidden("your session has ended; sign in again")
            verify_token(session_csrf_token(request, session), _field(form, CSRF_FIELD))
        elif session is None:
            if wants_json(request):
                raise Unauthorized("your session has ended; sign in again")
            raise web.HTTPSeeOther(location=SIGN_IN_PATH)
        tenant = await get_tenant(pool, session.tenant_id)
        # For the access log and metrics, as the API's key does for API requests.
        request[keys.SETTINGS_TENANT] = tenant
        language, i18n = language_of(request)
        desk = Desk(
            tenant=tenant,
            session=session,
            language=language,
            i18n=i18n,
            csrf_token=session_csrf_token(request, session),
            assets=asset_urls(request),
        )
        response = await handler(request, desk)
        response.headers["Cache-Control"] = NO_STORE
        response.headers["Content-Language"] = language
        return response

    return wrapper


def _field(form: MultiDictProxy[Any], name: str) -> object:
    return form.get(name)


def text_field(form: MultiDictProxy[Any], name: str) -> str:
    """A text input's value ("" when missing or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""
