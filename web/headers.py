"""Headers every customer-facing page carries: its URL may be a bearer link, and it is private."""

from __future__ import annotations

from aiohttp import web

# Only our own assets: the page's inline styles, images from this host or data: URIs.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self' 'unsafe-inline'",
        "script-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


def apply_page_headers(response: web.StreamResponse) -> web.StreamResponse:
    """Add what every portal and checkout response carries (no referrer, our CSP, no-store)."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Cache-Control", "no-store")
    return response
