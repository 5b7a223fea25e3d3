"""The ACME HTTP-01 responder (RFC 8555 section 8.3) on port 80, answered from PostgreSQL.

Any replica answers: the issuer stores the key authorization in the challenge
store before asking the CA to validate. The host middleware lets this path
through on any host, since the name is validated before it is served.
"""

from __future__ import annotations

import re

from aiohttp import web

from certs.challenges import http01_response
from gateway.edge import keys
from gateway.edge.errors import NotFound

routes = web.RouteTableDef()

# RFC 8555 section 8.3: the token is base64url without padding.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@routes.get("/.well-known/acme-challenge/{token}")
async def acme_http01_challenge(request: web.Request) -> web.Response:
    """The key authorization of a pending HTTP-01 challenge for this host, as text/plain."""
    token = request.match_info["token"]
    host = request.get(keys.CANONICAL_HOST)
    if not _TOKEN.match(token) or host is None:
        raise NotFound("no such challenge")
    answer = await http01_response(request.config_dict[keys.POOL], token, name=host)
    if answer is None:
        raise NotFound("no such challenge")
    return web.Response(text=answer, content_type="text/plain")
