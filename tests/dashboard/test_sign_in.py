"""Signing in to the settings page with an API key, signing out, throttling and CSRF."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from gateway.dashboard.sessions import MAX_FAILED_SIGN_INS
from gateway.tenants.api_keys import list_api_keys, revoke_api_key
from tests.conftest import ApiTenant
from tests.dashboard.desk import APP_HOST, csrf_token, sign_in, signed_in_desk

MakeTenant = Callable[..., Coroutine[Any, Any, ApiTenant]]


async def test_a_tenant_signs_in_with_its_api_key_and_sees_its_settings(
    gateway_client: Any, make_tenant: MakeTenant
) -> None:
    alpeak = await make_tenant("alpeak", name="Alpeak Outdoor")
    response = await sign_in(gateway_client, alpeak.key)
    assert response.status == 303
    assert response.headers["Location"] == "/settings/domains"
    cookie = next(
        value
        for name, value in response.headers.items()
        if name == "Set-Cookie" and value.startswith("gateway_settings=")
    )
    # Plain HTTP (local development): no __Host- prefix, but HttpOnly and SameSite all the same.
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    assert alpeak.key not in cookie

    page = await gateway_client.get("/settings/domains", headers={"Host": APP_HOST})
    assert page.status == 200
    text = await page.text()
    assert "Alpeak Outdoor" in text
    assert "Custom domains" in text
    assert page.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


async def test_the_session_cookie_is_stored_only_as_a_hash(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    alpeak = await make_tenant("alpeak")
    response = await sign_in(gateway_client, alpeak.key)
    token = response.cookies["gateway_settings"].value
    stored = await pool.fetch("SELECT token_hash FROM dashboard_sessions")
    assert len(stored) == 1
    assert token.encode() not in bytes(stored[0]["token_hash"])


async def test_a_wrong_api_key_cannot_sign_in(gateway_client: Any, make_tenant: MakeTenant) -> None:
    await make_tenant("alpeak")
    response = await sign_in(gateway_client, "gwk_not-a-real-key-at-all")
    assert response.status == 403
    assert "This API key is unknown or has been revoked." in await response.text()
    assert "gateway_settings" not in response.cookies
    page = await gateway_client.get(
        "/settings/domains", headers={"Host": APP_HOST}, allow_redirects=False
    )
    assert page.status == 303
    assert page.headers["Location"] == "/settings/sign-in"


async def test_repeated_failed_sign_ins_from_one_address_are_throttled(
    gateway_client: Any, make_tenant: MakeTenant
) -> None:
    alpeak = await make_tenant("alpeak")
    for _ in range(MAX_FAILED_SIGN_INS):
        assert (await sign_in(gateway_client, "gwk_guess")).status == 403
    # Even the right key waits now: a guesser cannot tell it found one.
    throttled = await sign_in(gateway_client, alpeak.key)
    assert throttled.status == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in await throttled.text()
    assert "gateway_settings" not in throttled.cookies


async def test_sign_in_without_the_forms_csrf_token_is_refused(
    gateway_client: Any, make_tenant: MakeTenant
) -> None:
    alpeak = await make_tenant("alpeak")
    await gateway_client.get("/settings/sign-in", headers={"Host": APP_HOST})
    response = await gateway_client.post(
        "/settings/sign-in",
        data={"api_key": alpeak.key},
        headers={"Host": APP_HOST},
        allow_redirects=False,
    )
    assert response.status == 403
    assert "gateway_settings" not in response.cookies


async def test_a_post_without_csrf_token_is_refused_and_changes_nothing(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    alpeak = await make_tenant("alpeak")
    desk = await signed_in_desk(gateway_client, alpeak.key)
    response = await desk.submit(
        "/settings/brand", "/settings/brand", {"brand_color": "#123456"}, token=False
    )
    assert response.status == 403
    wrong = await desk.client.post(
        "/settings/brand",
        data={"brand_color": "#123456", "csrf_token": "forged"},
        headers=desk.headers,
        allow_redirects=False,
    )
    assert wrong.status == 403
    assert await pool.fetchval("SELECT brand_color FROM tenants") == "#4f46e5"


async def test_a_form_posted_from_another_site_is_refused(
    gateway_client: Any, make_tenant: MakeTenant
) -> None:
    alpeak = await make_tenant("alpeak")
    desk = await signed_in_desk(gateway_client, alpeak.key)
    _, page = await desk.get("/settings/brand")
    response = await desk.client.post(
        "/settings/brand",
        data={"brand_color": "#123456", "csrf_token": csrf_token(page)},
        headers={**desk.headers, "Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert response.status == 403


async def test_signing_out_ends_the_session_on_the_server(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    alpeak = await make_tenant("alpeak")
    desk = await signed_in_desk(gateway_client, alpeak.key)
    token = gateway_client.session.cookie_jar.filter_cookies(gateway_client.make_url("/"))[
        "gateway_settings"
    ].value
    response = await desk.submit("/settings/domains", "/settings/sign-out", {})
    assert response.status == 303
    assert response.headers["Location"] == "/settings/sign-in?signed_out=1"
    assert await pool.fetchval("SELECT revoked_at IS NOT NULL FROM dashboard_sessions")
    # The old cookie, replayed, opens nothing.
    replay = await gateway_client.get(
        "/settings/domains",
        headers={"Host": APP_HOST, "Cookie": f"gateway_settings={token}"},
        allow_redirects=False,
    )
    assert replay.status == 303
    assert replay.headers["Location"] == "/settings/sign-in"


async def test_revoking_the_api_key_ends_the_sessions_it_opened(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    alpeak = await make_tenant("alpeak")
    desk = await signed_in_desk(gateway_client, alpeak.key)
    assert (await desk.get("/settings/brand"))[0] == 200
    (key,) = await list_api_keys(pool, tenant_id=alpeak.tenant.id)
    await revoke_api_key(pool, key_id=key.id, tenant_id=alpeak.tenant.id)
    status, _ = await desk.get("/settings/brand")
    assert status == 303


async def test_the_settings_page_lives_on_the_app_host_only(
    gateway_client: Any, make_tenant: MakeTenant
) -> None:
    await make_tenant("alpeak")
    home = await gateway_client.get("/", headers={"Host": APP_HOST}, allow_redirects=False)
    assert home.status == 303
    assert home.headers["Location"] == "/settings"
    for host in ("alpeak.localhost:8080", "api.localhost:8080"):
        response = await gateway_client.get("/settings/sign-in", headers={"Host": host})
        assert response.status == 404, host
    other = await gateway_client.get("/portal/x", headers={"Host": APP_HOST})
    assert other.status == 404


async def test_the_sign_in_page_speaks_french_to_a_french_browser(
    gateway_client: Any, make_tenant: MakeTenant
) -> None:
    alpeak = await make_tenant("alpeak")
    response = await gateway_client.get(
        "/settings/sign-in", headers={"Host": APP_HOST, "Accept-Language": "fr-FR,fr;q=0.9"}
    )
    text = await response.text()
    assert '<html lang="fr">' in text
    assert "Connexion à vos paramètres" in text
    desk = await signed_in_desk(gateway_client, alpeak.key, language="fr")
    _, page = await desk.get("/settings/wallet")
    assert "Proposer « Acheter des crédits » dans le portail" in page
