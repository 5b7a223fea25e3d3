"""Static files of the customer surfaces, served under content-hashed names, cached for good.

Each surface makes one `StaticAssets` for its directory; pages link a file through
`url(name)`, which names the file by a hash of its bytes
(`/web-static/billing_form.3f2a9c1b7d4e.js`). A changed file is a new name, so a hashed
name can be cached for a year and never revalidated (`immutable`, RFC 8246). The plain
name keeps working (a page a browser kept may still link it) but is revalidated each
time. Both carry an ETag and answer a matching `If-None-Match` with 304. The files are
small and read once, at start-up.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gateway.edge.errors import NotFound

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, no-cache"


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    content_type: str
    etag: str


class StaticAssets:
    """The files of one directory under one URL prefix, by plain and by hashed name."""

    def __init__(self, prefix: str, directory: Path) -> None:
        self.prefix = prefix
        self._hashed: dict[str, str] = {}
        self._files: dict[str, tuple[_Asset, str]] = {}
        for path in sorted(directory.iterdir()):
            if not path.is_file():
                continue
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:12]
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            asset = _Asset(body=body, content_type=content_type, etag=f'"{digest}"')
            hashed = f"{path.stem}.{digest}{path.suffix}"
            self._hashed[path.name] = hashed
            self._files[hashed] = (asset, IMMUTABLE)
            self._files[path.name] = (asset, REVALIDATE)

    def url(self, name: str) -> str:
        """The URL pages link for file `name`: its content-hashed name (KeyError if absent)."""
        return f"{self.prefix}/{self._hashed[name]}"

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """GET/HEAD of one file; 304 when the browser's copy is this one."""
        found = self._files.get(request.match_info["name"])
        if found is None:
            raise NotFound("there is no such file")
        asset, cache_control = found
        headers = {"ETag": asset.etag, "Cache-Control": cache_control}
        offered = request.headers.get("If-None-Match", "")
        if asset.etag in (part.strip().removeprefix("W/") for part in offered.split(",")):
            return web.Response(status=304, headers=headers)
        return web.Response(body=asset.body, content_type=asset.content_type, headers=headers)

    def add_routes(self, routes: web.RouteTableDef) -> None:
        routes.get(f"{self.prefix}/{{name}}")(self.serve)


STATIC_DIRECTORY = Path(__file__).parent / "static"
ASSETS = StaticAssets("/web-static", STATIC_DIRECTORY)
BILLING_FORM_SCRIPT = ASSETS.url("billing_form.js")

routes = web.RouteTableDef()
ASSETS.add_routes(routes)
