"""A custom domain from the settings page in Chromium, against a real ACME CA (Pebble).

The real gateway (`gateway.server.serve`, domain worker on) listens on the ports
Pebble's validator connects to; names resolve through a challtestsrv with no
default answers. The tenant signs in, adds its domain, reads the record to
create and the diagnosis, creates the CNAME, presses "Check now" and watches
the status reach active; its portal then answers over HTTPS on that name under
Pebble's root (checked from Python, which trusts only that root).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import pytest
from playwright.async_api import expect

from billing.customers import create_customer
from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import ApiTenant, eventually
from tests.fixtures.browser import (  # noqa: F401
    NewPage,
    browser_endpoint,
    new_page,
    page,
    page_errors,
)
from tests.fixtures.pebble import Pebble, empty_dns  # noqa: F401
from tests.gateway.https_gateway import https_get, trusting, with_free_ports
from tests.gateway.test_custom_domain_e2e import pebble_on_empty_dns, running  # noqa: F401

pytestmark = pytest.mark.slow

NAME = "billing.alpeak.test"
ALPEAK_COLOR = "#b4531f"
ACTIVE_WITHIN_MS = 90_000  # generous for a loaded machine


async def test_a_tenant_adds_its_domain_sees_what_to_fix_then_watches_it_become_active(
    pool: asyncpg.Pool,
    settings: Settings,
    pebble_on_empty_dns: Pebble,  # noqa: F811
    make_tenant: Callable[..., Coroutine[Any, Any, ApiTenant]],
    new_page: NewPage,  # noqa: F811
    page_errors: list[str],  # noqa: F811
) -> None:
    pebble = pebble_on_empty_dns
    dns = pebble.dns
    dns.clear_cname(NAME)  # other tests share this DNS server
    dns.add_a(f"cname.{settings.base_domain}", ["127.0.0.1"])
    settings = dataclasses.replace(
        with_free_ports(settings, http_port=pebble.http_port, https_port=pebble.tls_port),
        redirect_http=False,
        issuer="acme",
        acme_directory_url=pebble.directory_url,
        acme_ca_bundle=pebble.ca_bundle,
        acme_challenges=("http-01",),
        dns_resolver=("127.0.0.1", dns.dns_port),
    )
    alpeak = await make_tenant("alpeak", name="Alpeak Outdoor", brand_color=ALPEAK_COLOR)
    ada = await create_customer(
        pool,
        tenant_id=alpeak.tenant.id,
        default_currency=alpeak.tenant.default_currency,
        data={"name": "Ada Lovelace"},
    )
    app = create_app(settings)  # the domain worker runs too
    page = await new_page(permissions=["clipboard-read", "clipboard-write"])  # noqa: F811

    try:
        async with running(settings, app):
            await page.goto(f"http://app.localhost:{settings.http_port}/")
            await page.get_by_label("API key").fill(alpeak.key)
            await page.get_by_role("button", name="Sign in").click()

            await page.get_by_label("Domain name").fill(NAME)
            await page.get_by_role("button", name="Add domain").click()
            await expect(page.get_by_role("heading", name=NAME, level=1)).to_be_visible()
            status = page.locator("#domain-status")
            await expect(status).to_have_text("Pending DNS")

            # The records to create, with copy buttons: the CNAME, and the TXT proof.
            records = page.locator("#records")
            await expect(records.locator("tbody tr")).to_have_count(2)
            row = records.locator("tbody tr").nth(0)
            await expect(row.locator("td").nth(0)).to_have_text("CNAME")
            await expect(row.locator("td").nth(1).locator("code")).to_have_text(NAME)
            await expect(row.locator("td").nth(2)).to_have_text(settings.cname_target)
            await row.get_by_role("button", name=f"Copy {settings.cname_target}").click()
            await expect(
                row.get_by_role("button", name=f"Copy {settings.cname_target}")
            ).to_have_text("Copied")
            assert await page.evaluate("navigator.clipboard.readText()") == settings.cname_target
            proof_row = records.locator("tbody tr").nth(1)
            proof_name = f"_gateway-verify.{NAME}"
            await expect(proof_row.locator("td").nth(0)).to_have_text("TXT")
            await expect(proof_row.locator("td").nth(1).locator("code")).to_have_text(proof_name)
            token = (await proof_row.locator("td").nth(2).inner_text()).strip()
            assert len(token) == 32
            await proof_row.get_by_role("button", name=f"Copy the record name {proof_name}").click()
            assert await page.evaluate("navigator.clipboard.readText()") == proof_name
            await proof_row.get_by_role("button", name=f"Copy {token}").click()
            assert await page.evaluate("navigator.clipboard.readText()") == token
            ownership = page.locator("#ownership")
            await expect(ownership).to_contain_text("Not proven yet.")
            await expect(ownership).to_contain_text("proves that the domain is yours")

            # The worker's first check arrives on the page by itself: the diagnosis in words.
            diagnosis = page.locator("#diagnosis")
            await expect(diagnosis).to_contain_text(f"{NAME} does not resolve to anything yet.")
            await expect(diagnosis).to_contain_text(
                f"{NAME} has no DNS record yet: create a CNAME record for {NAME} pointing to"
                f" {settings.cname_target}."
            )
            await expect(page.locator("#certificate")).to_contain_text("No certificate yet.")

            dns.set_cname(NAME, settings.cname_target)
            dns.set_txt(proof_name, token)
            await page.get_by_role("button", name="Check now").click()
            await expect(status).to_have_text("Active", timeout=ACTIVE_WITHIN_MS)
            await expect(records).to_contain_text("Your DNS points at us: nothing to create.")
            await expect(diagnosis).to_contain_text(f"{NAME} currently resolves to")
            await expect(diagnosis).to_contain_text(f"{NAME} points at us.")
            await expect(ownership).to_contain_text("Proven on")
            certificate = page.locator("#certificate")
            await expect(certificate).to_contain_text("Public certificate authority (ACME)")
            await expect(certificate).to_contain_text("Expires")

            # The customer's portal answers over HTTPS on the name, under Pebble's root.
            client = trusting(pebble.root_pem)
            answer, _ = await eventually(
                lambda: https_get(
                    settings.https_port, client, NAME, f"/portal/{ada.id}", host=NAME
                ),
                lambda result: result[0].status == 200,
            )
            assert answer.status == 200, answer.body[:500]
            assert f"--brand: {ALPEAK_COLOR}" in answer.body
            assert "Ada Lovelace" in answer.body

            # The customers list now hands out links on the custom domain.
            await page.get_by_role("link", name="Customers", exact=True).click()
            await expect(page.locator(f"#link-{ada.id}")).to_have_text(
                f"https://{NAME}/portal/{ada.id}"
            )
        assert page_errors == []
    finally:
        dns.clear_cname(NAME)
