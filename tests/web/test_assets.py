"""Static files: linked by content-hashed names, cached for a year, revalidated with ETags."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import create_app
from gateway.settings import Settings
from web.assets import STATIC_DIRECTORY, StaticAssets

Client = TestClient[web.Request, web.Application]
HOST = {"Host": "alpeak.localhost:8080"}


async def test_a_hashed_script_is_cached_for_a_year_and_answers_304_to_its_tag(
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    make_tenant: Callable[[str], Awaitable[object]],
) -> None:
    await make_tenant("alpeak")
    client = await aiohttp_client(create_app(settings))
    body = (STATIC_DIRECTORY / "billing_form.js").read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:12]
    path = f"/web-static/billing_form.{digest}.js"
    response = await client.get(path, headers=HOST)
    assert response.status == 200
    assert await response.read() == body
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "javascript" in response.headers["Content-Type"]
    tag = response.headers["ETag"]
    again = await client.get(path, headers={**HOST, "If-None-Match": tag})
    assert again.status == 304
    assert await again.read() == b""
    # The plain name still serves the file, but a browser must ask whether it changed.
    plain = await client.get("/web-static/billing_form.js", headers=HOST)
    assert plain.status == 200
    assert plain.headers["Cache-Control"] == "public, no-cache"
    stale = await client.get(f"/web-static/billing_form.{'0' * 12}.js", headers=HOST)
    assert stale.status == 404


async def test_portal_and_checkout_scripts_are_served_under_the_names_pages_link(
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    make_tenant: Callable[[str], Awaitable[object]],
) -> None:
    await make_tenant("alpeak")
    from checkout.routes import ASSETS as CHECKOUT_ASSETS
    from portal.payment_routes import SCRIPT_URL

    client = await aiohttp_client(create_app(settings))
    for path in (SCRIPT_URL, CHECKOUT_ASSETS.url("checkout.js")):
        response = await client.get(path, headers=HOST)
        assert response.status == 200, path
        assert "immutable" in response.headers["Cache-Control"]


def test_a_changed_file_gets_a_new_name(tmp_path: object) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path))
    (directory / "app.js").write_text("one")
    first = StaticAssets("/x", directory).url("app.js")
    (directory / "app.js").write_text("two")
    second = StaticAssets("/x", directory).url("app.js")
    assert first != second
    assert first.startswith("/x/app.")
    assert first.endswith(".js")
