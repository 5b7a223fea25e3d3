"""The portal's rendered-page cache: a page is rendered once per customer data version.

A page's key is (page, path, query string, tenant id and settings, customer id, the customer's
data version, language, day). The data version comes from PostgreSQL with the customer,
in the one read every portal request makes anyway (`billing.portal_versions`; requests
asking at the same moment share one statement, each read sent after it was asked), so a
write committed by any replica changes the key of the next view everywhere. The tenant
part is the tenant value the host index serves: the page is exactly as fresh as an
uncached render would be. The day is in the key because pages show dates relative to
today; a page also expires when a subscription period it shows ends.

What differs per visitor is never cached: the body is rendered with a placeholder where
the CSRF token goes and the token is put in at serve time; a page carrying a one-time
notice, or a handler that marks its response with `do_not_cache` (a pay form's nonce),
is rendered for that visitor alone. The entity tag names the key and the hour the CSRF
token was issued in, so a browser's copy revalidated with `If-None-Match` (304) never
carries a token more than an hour older than a fresh page's (they live eight hours).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from aiohttp import web

from gateway.tenants.models import Tenant
from kernel import clock
from portal.access import PortalHandler, Visit

# A per-process marker no page text can contain (letters and digits survive escaping).
CSRF_PLACEHOLDER = f"csrf{secrets.token_hex(16)}"
_PLACEHOLDER_BYTES = CSRF_PLACEHOLDER.encode()
# Browsers keep the page and ask whether it changed; no shared cache may store it.
CACHE_CONTROL = "private, no-cache"
_UNCACHEABLE = web.ResponseKey("portal_page_uncacheable", bool)
_EXPIRES = web.ResponseKey("portal_page_expires", float)
# A CSRF token in a revalidated copy is at most this much older than a fresh one.
TOKEN_BUCKET_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class CachedPage:
    parts: tuple[bytes, ...]  # the body split where the CSRF token goes
    size: int
    expires_at: float | None  # Unix time after which the page must be rendered again


class PageCache:
    """A bounded LRU of rendered pages, by entry count and by total bytes."""

    def __init__(self, *, max_entries: int = 4096, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._pages: OrderedDict[tuple[object, ...], CachedPage] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._pages)

    def clear(self) -> None:
        self._pages.clear()
        self._bytes = 0

    def get(self, key: tuple[object, ...]) -> CachedPage | None:
        page = self._pages.get(key)
        if page is None or (page.expires_at is not None and page.expires_at <= time.time()):
            self.misses += 1
            return None
        self._pages.move_to_end(key)
        self.hits += 1
        return page

    def put(self, key: tuple[object, ...], page: CachedPage) -> None:
        if page.size > self.max_bytes // 8:
            return  # one huge page must not flush everyone else's
        old = self._pages.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        self._pages[key] = page
        self._bytes += page.size
        while len(self._pages) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._pages.popitem(last=False)
            self._bytes -= evicted.size


# The composition root puts one cache on the app; each process (replica) has its own.
PAGE_CACHE = web.AppKey("portal_page_cache", PageCache)


def do_not_cache(response: web.StreamResponse) -> None:
    """Mark a page as this visitor's alone (it holds a one-time nonce or an outcome)."""
    response[_UNCACHEABLE] = True


def expire_at(response: web.StreamResponse, moment: float | None) -> None:
    """Render the page again after Unix time `moment` (a period it shows ends then)."""
    if moment is not None:
        response[_EXPIRES] = moment


# Tenant values live as long as the host index keeps them; a reload makes new ones.
_FINGERPRINTS: dict[int, tuple[Tenant, str]] = {}
_MAX_FINGERPRINTS = 4096


def _tenant_fingerprint(tenant: Tenant) -> str:
    # Every setting and the brand are in the value; a changed tenant is a new value.
    # Kept by identity: hashing the nested settings on every view cost more than this.
    kept = _FINGERPRINTS.get(id(tenant))
    if kept is not None and kept[0] is tenant:
        return kept[1]
    fingerprint = hashlib.blake2b(repr(tenant).encode(), digest_size=12).hexdigest()
    if len(_FINGERPRINTS) >= _MAX_FINGERPRINTS:
        _FINGERPRINTS.clear()
    _FINGERPRINTS[id(tenant)] = (tenant, fingerprint)  # the value pins its id
    return fingerprint


def page_key(request: web.Request, visit: Visit, page: str) -> tuple[object, ...]:
    """What the page's body depends on; tenant and customer are always in it."""
    return (
        page,
        # The path names the invoice (or card) a page is about: two invoices, two pages.
        request.rel_url.raw_path,
        request.rel_url.raw_query_string,
        visit.tenant.id,
        _tenant_fingerprint(visit.tenant),
        visit.customer.id,
        visit.data_version,
        visit.language,
        clock.utc_now().date().isoformat(),
    )


def entity_tag(key: tuple[object, ...]) -> str:
    """A strong tag for the page of `key` served with a token issued in this hour."""
    return _tag(key, clock.unix_seconds() // TOKEN_BUCKET_SECONDS)


@functools.lru_cache(maxsize=4096)
def _tag(key: tuple[object, ...], bucket: int) -> str:
    text = "\x00".join(str(part) for part in (*key, bucket))
    return '"' + hashlib.blake2b(text.encode(), digest_size=16).hexdigest() + '"'


def _matches(request: web.Request, tag: str) -> bool:
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    # RFC 9110 13.1.2: weak comparison; "*" matches any current representation.
    offered = {part.strip().removeprefix("W/") for part in header.split(",")}
    return tag in offered or "*" in offered


def _serve(page: CachedPage, visit: Visit, tag: str, language: str) -> web.Response:
    body = visit.csrf_token.encode().join(page.parts)
    response = web.Response(body=body, content_type="text/html", charset="utf-8")
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Content-Language"] = language
    return response


def cached_page(page: str) -> Callable[[PortalHandler], PortalHandler]:
    """Serve a portal handler's page from the cache while the customer's data is unchanged."""

    def decorate(handler: PortalHandler) -> PortalHandler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request, visit: Visit) -> web.StreamResponse:
            if visit.notice is not None:
                return await handler(request, visit)
            key = page_key(request, visit, page)
            tag = entity_tag(key)
            if _matches(request, tag):
                return web.Response(
                    status=304, headers={"ETag": tag, "Cache-Control": CACHE_CONTROL}
                )
            cache = request.config_dict[PAGE_CACHE]
            found = cache.get(key)
            if found is not None:
                return _serve(found, visit, tag, visit.language)
            rendered = await handler(request, replace(visit, csrf_token=CSRF_PLACEHOLDER))
            body = rendered.body if isinstance(rendered, web.Response) else None
            if not isinstance(rendered, web.Response) or not isinstance(body, bytes):
                return rendered
            parts = tuple(body.split(_PLACEHOLDER_BYTES))
            if rendered.status != 200 or rendered.get(_UNCACHEABLE):
                # This visitor's page alone: the token goes in, nothing is kept.
                rendered.body = visit.csrf_token.encode().join(parts)
                return rendered
            found = CachedPage(parts=parts, size=len(body), expires_at=rendered.get(_EXPIRES))
            cache.put(key, found)
            return _serve(found, visit, tag, visit.language)

        return wrapper

    return decorate
