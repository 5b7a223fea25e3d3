"""The headers every response carries, computed once per application instead of per response.

Security headers, HSTS on HTTPS, the Server name and (optionally) the serving
worker are the same for every response of a process: `ResponseHeaders` builds
them as four ready blocks (plain or HTTPS, HTML or not) when the app is made,
and the error middleware adds the request's block and its request id to each
response in one step. This replaced five per-response steps (a header
middleware and four `on_response_prepare` hooks, one reading the settings per
response): bench/notes.md, "Small page, third round".
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import hdrs, web
from multidict import CIMultiDict, istr

from gateway.edge import keys

# HSTS on every HTTPS response: one year, the value HSTS preload lists ask for. No
# includeSubDomains: a tenant's domain is one name of someone else's zone (issue 3),
# and under the base domain a subdomain served elsewhere over plain HTTP would break.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"

HTML_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self' 'unsafe-inline'",
        "script-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
# JSON, images and text load nothing and are framed by nobody.
OTHER_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
REQUEST_ID_HEADER = istr("X-Request-Id")
_CONTENT_SECURITY_POLICY = istr("Content-Security-Policy")


def sends_hsts(base_domain: str) -> bool:
    """Whether HTTPS responses carry HSTS: not for localhost, which browsers would pin."""
    return base_domain != "localhost" and not base_domain.endswith(".localhost")


def tls_object(request: web.BaseRequest) -> object | None:
    """The connection's SSLObject on the HTTPS listener; None on plain HTTP."""
    transport = request.transport
    return None if transport is None else transport.get_extra_info("ssl_object")


class ResponseHeaders:
    """The fixed headers of one app's responses, by scheme and by kind of body.

    `server` replaces aiohttp's Server header (which names versions); `worker`, when
    given, is a (name, value) pair naming the serving process. A handler's own
    value of a security header wins; Server and the worker header are always ours.
    """

    def __init__(
        self, *, base_domain: str, server: str, worker: tuple[str, str] | None = None
    ) -> None:
        forced = {hdrs.SERVER: server}
        if worker is not None:
            forced[istr(worker[0])] = worker[1]
        self._forced = CIMultiDict(forced)
        transport: dict[istr, str] = {}
        secure_transport = dict(transport)
        if sends_hsts(base_domain):
            secure_transport[hdrs.STRICT_TRANSPORT_SECURITY] = STRICT_TRANSPORT_SECURITY
        self._transport = (CIMultiDict(transport), CIMultiDict(secure_transport))
        # [secure][html]
        self._blocks = tuple(
            tuple(self._block(extra, html) for html in (False, True))
            for extra in (transport, secure_transport)
        )

    @staticmethod
    def _block(extra: Mapping[istr, str], html: bool) -> CIMultiDict[str]:
        block: CIMultiDict[str] = CIMultiDict(SECURITY_HEADERS)
        block[_CONTENT_SECURITY_POLICY] = (
            HTML_CONTENT_SECURITY_POLICY if html else OTHER_CONTENT_SECURITY_POLICY
        )
        block.update(extra)
        return block

    def apply(
        self, request: web.BaseRequest, response: web.StreamResponse, request_id: str
    ) -> None:
        """Every fixed header and the request id, on a response not yet sent."""
        if response.prepared:
            return
        headers = response.headers
        secure = tls_object(request) is not None
        html = response.content_type == "text/html"
        headers.merge(self._blocks[secure][html])
        headers.update(self._forced)
        headers.setdefault(REQUEST_ID_HEADER, request_id)

    def apply_transport(
        self, request: web.BaseRequest, response: web.StreamResponse, request_id: str
    ) -> None:
        """What a relayed upstream response gets: HSTS, Server, worker and request id, no more.

        For responses a handler sends itself (a reverse-proxy stream), before it prepares them.
        """
        headers = response.headers
        headers.merge(self._transport[tls_object(request) is not None])
        headers.update(self._forced)
        headers.setdefault(REQUEST_ID_HEADER, request_id)


def response_headers(app: web.Application) -> ResponseHeaders | None:
    """The app's fixed headers, when it has any (apps built by `create_app` do)."""
    return app.get(keys.RESPONSE_HEADERS)
