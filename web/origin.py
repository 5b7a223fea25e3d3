"""Same-origin checks for state-changing requests, shared by every form the pages post."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from gateway.edge import keys
from gateway.edge.errors import Forbidden


def check_same_origin(request: web.Request) -> None:
    """Refuse a POST sent from another site (OWASP: verifying origin with standard headers)."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source:
        return  # same-site forms and non-browser clients; the token alone covers them
    if source == "null":
        # Pages that send `Referrer-Policy: no-referrer` get `Origin: null` from browsers
        # even on their own POSTs (Fetch standard, "serialize a request origin"). Fetch
        # Metadata tells those apart from an opaque-origin sender (a sandboxed frame, a
        # data: URL), which browsers mark as cross-site.
        if request.headers.get("Sec-Fetch-Site") == "same-origin":
            return
        raise Forbidden("the form was sent from an opaque origin; reload the page and try again")
    origin_host = (urlsplit(source).hostname or "").rstrip(".").lower()
    expected: str = request.get(keys.CANONICAL_HOST) or request.url.host or ""
    if origin_host != expected.strip("[]").lower():
        raise Forbidden("the form was sent from another site; reload the page and try again")
