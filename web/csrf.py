"""CSRF tokens for the customer pages: stateless HMAC tokens bound to tenant, customer and time.

A token is `<issued unix time>.<base64url HMAC-SHA256>` over the tenant id, the
customer id and the issue time, keyed with a subkey derived from the process's
key-encryption key. Nothing is stored: any replica verifies any token. On top of
the token, a POST whose Origin (or, without one, Referer) names another host is
refused (OWASP CSRF cheat sheet, "verifying origin with standard headers"); an
`Origin: null` passes only with `Sec-Fetch-Site: same-origin`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac

from aiohttp import web

from gateway.edge import keys
from gateway.edge.errors import Forbidden
from gateway.tenants.models import Tenant
from kernel import clock
from web.origin import check_same_origin

FIELD_NAME = "csrf_token"
# A form left open over a working day still submits; older tokens are refused.
TOKEN_LIFETIME_SECONDS = 8 * 3600
# Replicas' clocks may disagree a little.
CLOCK_SKEW_SECONDS = 300
_KEY_PURPOSE = "portal:csrf:v1"


def _signing_key(request: web.Request) -> bytes:
    return request.config_dict[keys.SEALER].derive_key(_KEY_PURPOSE)


def _tenant_id(request: web.Request) -> int:
    tenant: Tenant | None = request.get(keys.TENANT)
    if tenant is None:
        raise Forbidden("this form does not belong to this site")
    return tenant.id


# Every page view issues a token: views of one customer within a second share it.
@functools.lru_cache(maxsize=1024)
def _signature(key: bytes, *, tenant_id: int, customer_id: str, issued_at: int) -> str:
    message = f"{tenant_id}\x00{customer_id}\x00{issued_at}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_csrf_token(request: web.Request, *, customer_id: str) -> str:
    """A fresh token for forms on `customer_id`'s portal pages on this tenant's host."""
    issued_at = clock.unix_seconds()
    signature = _signature(
        _signing_key(request),
        tenant_id=_tenant_id(request),
        customer_id=customer_id,
        issued_at=issued_at,
    )
    return f"{issued_at}.{signature}"


def verify_csrf_token(request: web.Request, *, customer_id: str, token: str | None) -> None:
    """Raise Forbidden unless `token` was issued here for `customer_id` and has not expired."""
    check_same_origin(request)
    if not token:
        raise Forbidden("the form has no security token; reload the page and try again")
    issued_text, _, signature = token.partition(".")
    if not issued_text.isdigit() or not signature or len(issued_text) > 12:
        raise Forbidden("the form's security token is not valid; reload the page and try again")
    issued_at = int(issued_text)
    expected = _signature(
        _signing_key(request),
        tenant_id=_tenant_id(request),
        customer_id=customer_id,
        issued_at=issued_at,
    )
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Forbidden("the form's security token is not valid; reload the page and try again")
    age = clock.unix_seconds() - issued_at
    if age > TOKEN_LIFETIME_SECONDS or age < -CLOCK_SKEW_SECONDS:
        raise Forbidden("the form has expired; reload the page and try again")
