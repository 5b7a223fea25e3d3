"""Tenant settings through the API: brand, wallet and portal settings, icon, auth, idempotency."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest

from tests.conftest import ApiTenant, eventually


def png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\0" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


async def test_tenant_reads_and_changes_its_settings(gateway_client: Any, make_tenant: Any) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak", brand_color="#0e7c66")
    response = await gateway_client.get("/api/v1/settings", headers=alpeak.headers)
    assert response.status == 200
    settings = await response.json()
    assert settings["slug"] == "alpeak"
    assert settings["brand_color"] == "#0e7c66"
    assert settings["wallet"]["topups_enabled"] is False

    response = await gateway_client.patch(
        "/api/v1/settings",
        headers=alpeak.headers,
        json={
            "brand_color": "#AA3300",
            "wallet": {
                "topups_enabled": True,
                "topup_max": 20000,
                "max_balance": 90000,
                "pays_invoices": True,
            },
            "portal": {"link_mode": "signed", "link_ttl_seconds": 600},
        },
    )
    assert response.status == 200, await response.text()
    changed = await response.json()
    assert changed["brand_color"] == "#aa3300"
    assert changed["wallet"] == {
        "topups_enabled": True,
        "topup_min": 500,
        "topup_max": 20000,
        "max_balance": 90000,
        "pays_invoices": True,
    }
    assert changed["portal"]["link_mode"] == "signed"
    again = await (await gateway_client.get("/api/v1/settings", headers=alpeak.headers)).json()
    assert again == changed


async def test_bad_settings_name_each_field_and_store_nothing(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak", brand_color="#0e7c66")
    before = await (await gateway_client.get("/api/v1/settings", headers=alpeak.headers)).json()
    response = await gateway_client.patch(
        "/api/v1/settings",
        headers=alpeak.headers,
        json={"brand_color": "teal", "name": "Renamed", "wallet": {"topup_min": 90000}},
    )
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    fields = {error["field"] for error in problem["errors"]}
    assert "brand_color" in fields
    response = await gateway_client.patch(
        "/api/v1/settings",
        headers=alpeak.headers,
        json={"wallet": {"topups_enabled": "yes", "colour": 1}, "brand": "x"},
    )
    assert response.status == 422
    problem = await response.json()
    assert {error["field"] for error in problem["errors"]} == {
        "wallet.topups_enabled",
        "wallet.colour",
        "brand",
    }
    response = await gateway_client.patch(
        "/api/v1/settings", headers=alpeak.headers, json={"brand_color": "teal", "brand": "x"}
    )
    assert response.status == 422
    problem = await response.json()
    assert {error["field"]: error["code"] for error in problem["errors"]} == {
        "brand_color": "invalid_color",
        "brand": "unknown_field",
    }
    after = await (await gateway_client.get("/api/v1/settings", headers=alpeak.headers)).json()
    assert after == before


async def test_malformed_json_and_wrong_media_type_are_refused(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    headers = {**alpeak.headers, "Content-Type": "application/json"}
    response = await gateway_client.patch("/api/v1/settings", headers=headers, data=b'{"name": ')
    assert response.status == 400
    assert "not valid JSON" in (await response.json())["detail"]
    response = await gateway_client.patch(
        "/api/v1/settings", headers={**alpeak.headers, "Content-Type": "text/plain"}, data=b"x=1"
    )
    assert response.status == 415
    response = await gateway_client.patch("/api/v1/settings", headers=headers, data=b"[1, 2]")
    assert response.status == 400


async def test_oversized_body_is_refused(gateway_client: Any, make_tenant: Any) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    response = await gateway_client.patch(
        "/api/v1/settings",
        headers={**alpeak.headers, "Content-Type": "application/json"},
        data=io.BytesIO(b'{"name": "' + b"x" * 2_000_000 + b'"}'),
    )
    assert response.status == 413


async def test_icon_upload_checks_type_from_bytes_and_size(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    response = await gateway_client.put(
        "/api/v1/settings/icon",
        headers={**alpeak.headers, "Content-Type": "image/png"},
        data=b"GIF89a" + b"\0" * 100,
    )
    assert response.status == 422
    assert (await response.json())["errors"][0]["field"] == "icon"
    response = await gateway_client.put(
        "/api/v1/settings/icon",
        headers={**alpeak.headers, "Content-Type": "image/png"},
        data=png() + b"\0" * 300_000,
    )
    assert response.status == 422
    response = await gateway_client.put(
        "/api/v1/settings/icon", headers={**alpeak.headers, "Content-Type": "image/png"}, data=png()
    )
    assert response.status == 200, await response.text()
    icon_url = (await response.json())["icon_url"]
    assert icon_url.startswith("http://alpeak.localhost:8080/brand/icon?v=")
    # The host index learns of the new tenant through NOTIFY, a moment after it was created.
    served = await eventually(
        lambda: gateway_client.get("/brand/icon", headers={"Host": "alpeak.localhost:8080"}),
        lambda response: response.status != 404,
    )
    assert served.status == 200
    assert served.content_type == "image/png"
    assert await served.read() == png()


async def test_missing_wrong_and_revoked_keys_are_401(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    from gateway.tenants.api_keys import list_api_keys, revoke_api_key

    alpeak: ApiTenant = await make_tenant("alpeak")
    host = {"Host": "api.localhost:8080"}
    response = await gateway_client.get("/api/v1/settings", headers=host)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    response = await gateway_client.get(
        "/api/v1/settings", headers={**host, "Authorization": "Bearer gwk_wrong"}
    )
    assert response.status == 401
    (key,) = await list_api_keys(pool, tenant_id=alpeak.tenant.id)
    await revoke_api_key(pool, key_id=key.id)
    response = await gateway_client.get("/api/v1/settings", headers=alpeak.headers)
    assert response.status == 401
    assert response.content_type == "application/problem+json"


async def test_api_is_only_served_on_the_api_host(gateway_client: Any, make_tenant: Any) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    headers = {**alpeak.headers, "Host": "alpeak.localhost:8080"}
    response = await gateway_client.get("/api/v1/settings", headers=headers)
    assert response.status == 404


async def test_domains_are_added_listed_and_removed_per_tenant(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    bergfeld: ApiTenant = await make_tenant("bergfeld")
    response = await gateway_client.post(
        "/api/v1/domains", headers=alpeak.headers, json={"name": "Billing.Alpeak.COM."}
    )
    assert response.status == 201, await response.text()
    domain = await response.json()
    assert domain["name"] == "billing.alpeak.com"
    assert domain["status"] == "pending_dns"
    assert domain["cname_target"] == "cname.localhost"
    # Another tenant's claim neither blocks a claim nor shows in it; each has its own row.
    response = await gateway_client.post(
        "/api/v1/domains", headers=bergfeld.headers, json={"name": "billing.alpeak.com"}
    )
    assert response.status == 201
    assert (await response.json())["ownership"]["proven"] is False
    await gateway_client.delete("/api/v1/domains/billing.alpeak.com", headers=bergfeld.headers)
    response = await gateway_client.get(
        "/api/v1/domains/billing.alpeak.com", headers=bergfeld.headers
    )
    assert response.status == 404
    response = await gateway_client.post(
        "/api/v1/domains", headers=alpeak.headers, json={"name": "x.localhost"}
    )
    assert response.status == 422
    listing = await (await gateway_client.get("/api/v1/domains", headers=alpeak.headers)).json()
    assert [d["name"] for d in listing["data"]] == ["billing.alpeak.com"]
    response = await gateway_client.delete(
        "/api/v1/domains/billing.alpeak.com", headers=bergfeld.headers
    )
    assert response.status == 404
    response = await gateway_client.delete(
        "/api/v1/domains/billing.alpeak.com", headers=alpeak.headers
    )
    assert response.status == 204
    listing = await (await gateway_client.get("/api/v1/domains", headers=alpeak.headers)).json()
    assert listing["data"] == []


async def test_webhook_secret_is_created_and_read_back(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    response = await gateway_client.get("/api/v1/settings/webhook_secret", headers=alpeak.headers)
    assert (await response.json()) == {"secret": None}
    created = await gateway_client.post("/api/v1/settings/webhook_secret", headers=alpeak.headers)
    secret = (await created.json())["secret"]
    assert secret.startswith("whsec_")
    response = await gateway_client.get("/api/v1/settings/webhook_secret", headers=alpeak.headers)
    assert (await response.json()) == {"secret": secret}


async def test_stripe_secret_key_is_write_only_and_sealed(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    response = await gateway_client.patch(
        "/api/v1/settings",
        headers=alpeak.headers,
        json={
            "stripe": {"secret_key": "sk_test_abcdefgh12345", "publishable_key": "pk_test_abcdefgh"}
        },
    )
    assert response.status == 200, await response.text()
    body = await response.text()
    assert "sk_test_abcdefgh12345" not in body
    assert (await response.json())["stripe_configured"] is True
    stored = await pool.fetchval(
        "SELECT stripe_secret_key_sealed FROM tenants WHERE id = $1", alpeak.tenant.id
    )
    assert b"sk_test_abcdefgh12345" not in bytes(stored)


async def test_a_replayed_response_is_stored_sealed(
    gateway_client: Any, make_tenant: Any, pool: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    headers = {**alpeak.headers, "Idempotency-Key": "rotate-1"}
    first = await gateway_client.post("/api/v1/settings/webhook_secret", headers=headers)
    second = await gateway_client.post("/api/v1/settings/webhook_secret", headers=headers)
    secret = (await first.json())["secret"]
    assert (await second.json())["secret"] == secret
    assert second.headers["Idempotent-Replayed"] == "true"
    stored = await pool.fetchval("SELECT response::text FROM api_idempotency_keys")
    assert secret not in stored
    assert "whsec_" not in stored


# Every form a hostile tenant tried (issue 13): each reaches the gateway's own network.
REFUSED_WEBHOOK_URLS = [
    ("http://127.0.0.1:9090/metrics", "https://"),
    ("https://127.0.0.1:9090/metrics", "loopback"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://10.0.0.1/", "private"),
    ("https://192.168.1.20/hooks", "private"),
    ("https://100.64.0.1/", "carrier-grade NAT"),
    ("https://224.0.0.1/", "multicast"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://[::1]/", "loopback"),
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://[fe80::1]/", "link-local"),
    ("https://2130706433/", "numeric host form"),
    ("https://0x7f.1/", "numeric host form"),
    ("https://localhost/hooks", "loopback"),
    ("https://user:password@alpeak.example/hooks", "user name or password"),
    ("ftp://alpeak.example/hooks", "https://"),
]


@pytest.mark.parametrize(("url", "explanation"), REFUSED_WEBHOOK_URLS)
async def test_a_webhook_url_to_a_non_public_address_is_refused_with_the_reason(
    url: str, explanation: str, gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    response = await gateway_client.patch(
        "/api/v1/settings", headers=alpeak.headers, json={"webhook_url": url}
    )
    assert response.status == 422
    problem = await response.json()
    [error] = problem["errors"]
    assert error["field"] == "webhook_url"
    assert explanation in error["message"]
    stored = await (await gateway_client.get("/api/v1/settings", headers=alpeak.headers)).json()
    assert stored["webhook_url"] is None


async def test_a_public_https_webhook_url_is_saved(gateway_client: Any, make_tenant: Any) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    for url in ("https://hooks.alpeak.example/gateway", "https://8.8.8.8:8443/x"):
        response = await gateway_client.patch(
            "/api/v1/settings", headers=alpeak.headers, json={"webhook_url": url}
        )
        assert response.status == 200, await response.text()
        assert (await response.json())["webhook_url"] == url


async def test_cancelling_from_the_portal_is_off_until_the_tenant_turns_it_on(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    settings = await (await gateway_client.get("/api/v1/settings", headers=alpeak.headers)).json()
    assert settings["portal"]["subscription_cancel_enabled"] is False
    response = await gateway_client.patch(
        "/api/v1/settings",
        headers=alpeak.headers,
        json={"portal": {"subscription_cancel_enabled": True}},
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["portal"]["subscription_cancel_enabled"] is True
    response = await gateway_client.patch(
        "/api/v1/settings",
        headers=alpeak.headers,
        json={"portal": {"subscription_cancel_enabled": "yes"}},
    )
    assert response.status == 422


async def test_legal_details_are_stored_and_a_wrong_vat_number_is_refused_whole(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    refused = await gateway_client.patch(
        "/api/v1/settings",
        headers=alpeak.headers,
        json={"legal": {"name": "Alpeak SAS", "country": "DE", "vat_number": "FR12345678901"}},
    )
    assert refused.status == 422, await refused.text()
    problem = await refused.json()
    assert {error["field"] for error in problem["errors"]} == {"legal.vat_number"}
    unchanged = await (await gateway_client.get("/api/v1/settings", headers=alpeak.headers)).json()
    assert unchanged["legal"]["name"] is None

    response = await gateway_client.patch(
        "/api/v1/settings",
        headers=alpeak.headers,
        json={
            "legal": {
                "name": "Alpeak SAS",
                "address_line1": "1 rue des Cimes",
                "postal_code": "74400",
                "city": "Chamonix",
                "country": "fr",
                "vat_number": "fr 12 345 678 901",
                "registration_number": "RCS Annecy 123 456 789",
            }
        },
    )
    assert response.status == 200, await response.text()
    legal = (await response.json())["legal"]
    assert legal["country"] == "FR"
    assert legal["vat_number"] == "FR12345678901"
    assert legal["registration_number"] == "RCS Annecy 123 456 789"


async def test_the_legal_address_follows_the_customers_country_and_postal_code_rules(
    gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    refused = await gateway_client.patch(
        "/api/v1/settings",
        headers=alpeak.headers,
        json={"legal": {"country": "XK", "postal_code": "74400", "city": "Chamonix"}},
    )
    assert refused.status == 422, await refused.text()
    assert {e["code"] for e in (await refused.json())["errors"]} == {"invalid_country"}
    wrong_code = await gateway_client.patch(
        "/api/v1/settings",
        headers=alpeak.headers,
        json={"legal": {"country": "GB", "postal_code": "74400", "city": "Bristol"}},
    )
    assert wrong_code.status == 422
    errors = (await wrong_code.json())["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        ("legal.postal_code", "invalid_postal_code")
    ]
    saved = await gateway_client.patch(
        "/api/v1/settings",
        headers=alpeak.headers,
        json={"legal": {"country": "GB", "postal_code": "bs1 4dj", "city": "Bristol"}},
    )
    assert saved.status == 200, await saved.text()
    assert (await saved.json())["legal"]["postal_code"] == "BS1 4DJ"
    # Moving the company to another country checks the stored code against the new one.
    moved = await gateway_client.patch(
        "/api/v1/settings", headers=alpeak.headers, json={"legal": {"country": "FR"}}
    )
    assert moved.status == 422
    assert [e["field"] for e in (await moved.json())["errors"]] == ["legal.postal_code"]
