"""One-time notices after a redirect ("The card was removed."): a short-lived signed cookie.

A form's handler redirects (POST, then GET) and sets the cookie to a notice key,
signed with a subkey of the process's key-encryption key and bound to the page's
owner; the next page shows the notice and clears the cookie, so a reload does not
show it again. The cookie carries a key, never words: the page looks the key up
in its own list of messages, translated from the catalogue, so nothing a URL or a
forged cookie says reaches the page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from aiohttp import web

from gateway.edge import keys

COOKIE_NAME = "gateway_notice"
# Long enough for the redirect to land, short enough not to surprise a later visit.
MAX_AGE_SECONDS = 120
_KEY_PURPOSE = "web:notice:v1"


def _signature(request: web.Request, *, owner: str, key: str) -> str:
    secret = request.config_dict[keys.SEALER].derive_key(_KEY_PURPOSE)
    digest = hmac.new(secret, f"{owner}\x00{key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def set_notice(
    request: web.Request, response: web.StreamResponse, *, owner: str, key: str, path: str
) -> None:
    """Show notice `key` on the next page of `owner` (a customer id) under `path`."""
    response.set_cookie(
        COOKIE_NAME,
        f"{key}.{_signature(request, owner=owner, key=key)}",
        max_age=MAX_AGE_SECONDS,
        path=path,
        secure=request.secure,
        httponly=True,
        samesite="Lax",
    )


def pending_notice(request: web.Request, *, owner: str) -> str | None:
    """The notice key the cookie carries for `owner`, if its signature holds."""
    value = request.cookies.get(COOKIE_NAME)
    if not value:
        return None
    key, _, signature = value.rpartition(".")
    if not key or not hmac.compare_digest(
        signature.encode(), _signature(request, owner=owner, key=key).encode()
    ):
        return None
    return key


def clear_notice(request: web.Request, response: web.StreamResponse, *, path: str) -> None:
    """Forget the notice once a page showed it (a reload shows it no more)."""
    if COOKIE_NAME in request.cookies:
        response.del_cookie(COOKIE_NAME, path=path, secure=request.secure, samesite="Lax")
