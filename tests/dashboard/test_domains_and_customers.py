"""Custom domains and customers on the settings page (HTTP level; the browser test does DNS)."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from billing.customers import create_customer
from gateway.tenants.registry import update_settings
from tests.conftest import ApiTenant, index_serves
from tests.dashboard.desk import signed_in_desk

MakeTenant = Callable[..., Coroutine[Any, Any, ApiTenant]]
NAME = "billing.alpeak.test"


async def test_adding_a_domain_shows_the_cname_to_create_and_its_status(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    alpeak = await make_tenant("alpeak")
    desk = await signed_in_desk(gateway_client, alpeak.key)
    response = await desk.submit("/settings/domains", "/settings/domains", {"name": NAME.upper()})
    assert response.status == 303
    assert response.headers["Location"] == f"/settings/domains/{NAME}"
    status, page = await desk.get(response.headers["Location"])
    assert status == 200
    assert "Pending DNS" in page
    assert re.search(
        r'<td>CNAME</td>\s*<td><code id="record-name-1">billing.alpeak.test</code>', page
    )
    assert '<code id="record-target-1">cname.localhost</code>' in page
    token = await pool.fetchval("SELECT proof_token FROM domains WHERE name = $1", NAME)
    assert re.search(
        r'<td>TXT</td>\s*<td><code id="record-name-2">_gateway-verify.billing.alpeak.test</code>',
        page,
    )
    assert f'<code id="record-target-2">{token}</code>' in page
    assert 'data-copy="record-name-2"' in page
    assert 'data-copy="record-target-2"' in page
    assert "Not proven yet." in page
    assert "proves that the domain is yours" in page
    assert "Not checked yet." in page
    assert await pool.fetchval("SELECT tenant_id FROM domains WHERE name = $1", NAME) == (
        alpeak.tenant.id
    )

    live = await desk.client.get(
        f"/settings/domains/{NAME}/status.json",
        headers={**desk.headers, "Accept": "application/json"},
    )
    assert live.status == 200
    state = await live.json()
    assert (state["status"], state["label"], state["settled"]) == (
        "pending_dns",
        "Pending DNS",
        False,
    )
    assert "cname.localhost" in state["html"]


async def test_a_bad_domain_name_is_shown_again_with_the_reason(
    gateway_client: Any, make_tenant: MakeTenant
) -> None:
    alpeak = await make_tenant("alpeak")
    desk = await signed_in_desk(gateway_client, alpeak.key)
    response = await desk.submit("/settings/domains", "/settings/domains", {"name": "203.0.113.7"})
    assert response.status == 422
    page = await response.text()
    assert "not an IP address" in page
    assert 'value="203.0.113.7"' in page


async def test_a_claim_by_another_tenant_is_not_revealed_nor_shared(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    alpeak = await make_tenant("alpeak")
    borealis = await make_tenant("borealis")
    first = await signed_in_desk(gateway_client, alpeak.key)
    assert (
        await first.submit("/settings/domains", "/settings/domains", {"name": NAME})
    ).status == (303)
    gateway_client.session.cookie_jar.clear()  # another browser
    second = await signed_in_desk(gateway_client, borealis.key)
    response = await second.submit("/settings/domains", "/settings/domains", {"name": NAME})
    # Claims block no one (the one proven first wins), and nothing tells of the other.
    assert response.status == 303
    status, page = await second.get(f"/settings/domains/{NAME}")
    assert status == 200
    tokens = {
        row["tenant_id"]: row["proof_token"]
        for row in await pool.fetch("SELECT tenant_id, proof_token FROM domains")
    }
    assert tokens[borealis.tenant.id] in page
    assert tokens[alpeak.tenant.id] not in page
    assert "alpeak" not in page.replace(NAME, "")
    again = await second.submit("/settings/domains", "/settings/domains", {"name": NAME})
    assert again.status == 422
    assert f"you have already added {NAME}" in await again.text()


async def test_removing_a_domain_takes_it_off_the_list(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    alpeak = await make_tenant("alpeak")
    desk = await signed_in_desk(gateway_client, alpeak.key)
    await desk.submit("/settings/domains", "/settings/domains", {"name": NAME})
    response = await desk.submit(
        f"/settings/domains/{NAME}", f"/settings/domains/{NAME}/remove", {}
    )
    assert response.status == 303
    _status, page = await desk.get(response.headers["Location"])
    assert f"The domain {NAME} was removed." in page
    assert "You have no custom domain yet." in page
    assert await pool.fetchval("SELECT count(*) FROM domains") == 0


async def test_customers_are_searchable_and_each_has_its_portal_link(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    alpeak = await make_tenant("alpeak")
    borealis = await make_tenant("borealis")
    ada = await create_customer(
        pool,
        tenant_id=alpeak.tenant.id,
        default_currency=alpeak.tenant.default_currency,
        data={"name": "Ada Lovelace", "email": "ada@x.test"},
    )
    await create_customer(
        pool,
        tenant_id=alpeak.tenant.id,
        default_currency=alpeak.tenant.default_currency,
        data={"name": "Grace Hopper"},
    )
    await create_customer(
        pool,
        tenant_id=borealis.tenant.id,
        default_currency=borealis.tenant.default_currency,
        data={"name": "Ada Byron"},
    )
    desk = await signed_in_desk(gateway_client, alpeak.key)
    _, everyone = await desk.get("/settings/customers")
    assert "Ada Lovelace" in everyone
    assert "Grace Hopper" in everyone
    assert "Ada Byron" not in everyone
    _, found = await desk.get("/settings/customers?q=ADA@")
    assert "Ada Lovelace" in found
    assert "Grace Hopper" not in found
    assert f"http://alpeak.localhost:8080/portal/{ada.id}" in found
    assert 'aria-label="Copy portal link for Ada Lovelace"' in found
    _, none = await desk.get("/settings/customers?q=%25")
    assert "No customer matches." in none


async def test_in_signed_link_mode_the_list_makes_a_link_that_opens_the_portal(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    alpeak = await make_tenant("alpeak")
    await update_settings(pool, tenant_id=alpeak.tenant.id, changes={"portal.link_mode": "signed"})
    # The tenant and its link mode reach the host index on NOTIFY, a moment later; visiting
    # before that found no portal at this host (a 404), or the old mode.
    await index_serves(
        gateway_client.server.app,
        "alpeak.localhost",
        lambda tenant: tenant.portal.link_mode == "signed",
    )
    ada = await create_customer(
        pool,
        tenant_id=alpeak.tenant.id,
        default_currency=alpeak.tenant.default_currency,
        data={"name": "Ada Lovelace"},
    )
    desk = await signed_in_desk(gateway_client, alpeak.key)
    response = await desk.submit(
        "/settings/customers", f"/settings/customers/{ada.id}/signed-link", {}
    )
    assert response.status == 200
    link = re.search(
        r'id="signed-link" type="text" readonly value="([^"]+)"', await response.text()
    )
    assert link is not None
    url = link[1].replace("&amp;", "&")
    assert url.startswith(f"http://alpeak.localhost:8080/portal/{ada.id}?token=")
    portal = await gateway_client.get(
        url.removeprefix("http://alpeak.localhost:8080"),
        headers={"Host": "alpeak.localhost:8080"},
    )
    assert portal.status == 200
    assert "Ada Lovelace" in await portal.text()
