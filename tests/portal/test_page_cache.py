"""The rendered-page cache: every write shows on the next view, in this replica and another."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from billing.customers import update_billing_info
from billing.payment_methods import add_card
from billing.payment_methods_service import set_default_card
from billing.wallets import create_wallet, credit_wallet
from gateway.app import create_app
from gateway.settings import Settings
from gateway.tenants.registry import create_tenant, update_settings
from portal.access import CUSTOMER_READS
from portal.page_cache import PAGE_CACHE
from tests.conftest import index_serves
from tests.dates import CARD_EXP_YEAR
from tests.portal.seed import ALPEAK, Seeded, final_invoice, seed_tenants

Client = TestClient[web.Request, web.Application]
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
ORIGIN = {"Origin": "http://alpeak.localhost:8080"}


@pytest.fixture
async def seeded(pool: asyncpg.Pool) -> Seeded:
    return await seed_tenants(pool)


@pytest.fixture
async def replicas(
    seeded: Seeded,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> tuple[Client, Client]:
    """Two gateway apps on one database, each with its own page cache, as two replicas."""
    return await aiohttp_client(create_app(settings)), await aiohttp_client(create_app(settings))


async def overview(client: Client, customer_id: str, headers: dict[str, str] = ALPEAK) -> str:
    response = await client.get(f"/portal/{customer_id}", headers=headers)
    assert response.status == 200, await response.text()
    return await response.text()


Write = Callable[[asyncpg.Pool, Seeded, Client], Awaitable[str]]


async def buy_credits(pool: asyncpg.Pool, seeded: Seeded, _: Client) -> str:
    wallet = await create_wallet(
        pool, tenant_id=seeded.alpeak.id, customer_id=seeded.customer_id, currency="EUR"
    )
    await credit_wallet(
        pool, tenant_id=seeded.alpeak.id, wallet_id=wallet.id, amount=4200, kind="topup"
    )
    return "€42.00"


async def add_a_card(pool: asyncpg.Pool, seeded: Seeded, _: Client) -> str:
    await add_card(
        pool,
        tenant_id=seeded.alpeak.id,
        customer_id=seeded.customer_id,
        brand="visa",
        last4="4242",
        exp_month=4,
        exp_year=CARD_EXP_YEAR,
    )
    return "Visa ending in 4242"


async def make_another_card_the_default(pool: asyncpg.Pool, seeded: Seeded, _: Client) -> str:
    cards = []
    for last4 in ("1111", "2222"):
        cards.append(
            await add_card(
                pool,
                tenant_id=seeded.alpeak.id,
                customer_id=seeded.customer_id,
                brand="visa",
                last4=last4,
                exp_month=4,
                exp_year=CARD_EXP_YEAR,
            )
        )
    return cards[0].id  # filled in by the test: the view before the switch is cached first


async def pay_an_invoice(pool: asyncpg.Pool, seeded: Seeded, _: Client) -> str:
    invoice = await final_invoice(pool, seeded.alpeak.id, seeded.customer_id, amount=7700)
    await pool.execute(
        "UPDATE invoices SET status = 'paid', paid_at = now(), amount_paid = total"
        " WHERE tenant_id = $1 AND id = $2",
        seeded.alpeak.id,
        invoice.id,
    )
    return "status-paid"


async def a_new_invoice(pool: asyncpg.Pool, seeded: Seeded, _: Client) -> str:
    await final_invoice(pool, seeded.alpeak.id, seeded.customer_id, amount=31400)
    return "€314.00"


async def edit_billing_information(pool: asyncpg.Pool, seeded: Seeded, client: Client) -> str:
    path = f"/portal/{seeded.customer_id}/billing"
    form = await (await client.get(path, headers=ALPEAK)).text()
    token = CSRF_INPUT.search(form)
    assert token is not None
    response = await client.post(
        path,
        data={
            "csrf_token": token[1],
            "name": "Ada King",
            "email": "ada.king@example.com",
            "line1": "1 Place Grenette",
            "city": "Grenoble",
            "postal_code": "38000",
            "country": "FR",
            "vat_number": "FR40303265045",
            "language": "en",
        },
        headers={**ALPEAK, **ORIGIN},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    return "1 Place Grenette"


async def change_language(pool: asyncpg.Pool, seeded: Seeded, _: Client) -> str:
    await update_billing_info(
        pool, tenant_id=seeded.alpeak.id, customer_id=seeded.customer_id, changes={"language": "fr"}
    )
    return "Moyens de paiement"


WRITES: dict[str, Write] = {
    "buy credits": buy_credits,
    "add a card": add_a_card,
    "pay an invoice": pay_an_invoice,
    "a new invoice": a_new_invoice,
    "edit billing information": edit_billing_information,
    "change language": change_language,
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
async def test_a_write_shows_on_the_next_view_in_both_replicas(
    pool: asyncpg.Pool, seeded: Seeded, replicas: tuple[Client, Client], write: Write
) -> None:
    first, second = replicas
    for client in replicas:  # both caches hold the page before the write
        await overview(client, seeded.customer_id)
        await overview(client, seeded.customer_id)
    expected = await write(pool, seeded, first)
    for client in replicas:
        assert expected in await overview(client, seeded.customer_id)
    assert first.app[PAGE_CACHE].hits >= 1
    assert second.app[PAGE_CACHE].hits >= 1


async def test_a_new_default_card_shows_on_the_next_view_in_both_replicas(
    pool: asyncpg.Pool, seeded: Seeded, replicas: tuple[Client, Client]
) -> None:
    older = await make_another_card_the_default(pool, seeded, replicas[0])
    before = [await overview(client, seeded.customer_id) for client in replicas]
    assert all(re.search(rf'id="{older}".*?Make default', page, re.S) for page in before)
    await set_default_card(
        pool, tenant_id=seeded.alpeak.id, customer_id=seeded.customer_id, payment_method_id=older
    )
    for client in replicas:
        page = await overview(client, seeded.customer_id)
        card = page[page.index(f'id="{older}"') :]
        assert "Default" in card[: card.index("</li>")]
        assert "Make default" not in card[: card.index("</li>")]


async def test_a_brand_change_shows_on_the_next_view_in_both_replicas(
    pool: asyncpg.Pool, seeded: Seeded, replicas: tuple[Client, Client]
) -> None:
    for client in replicas:
        assert "#aa0000" in await overview(client, seeded.customer_id)
    await update_settings(pool, tenant_id=seeded.alpeak.id, changes={"brand_color": "#0055aa"})
    for client in replicas:
        # Each replica's host index reloads on NOTIFY; the page follows its tenant.
        await index_serves(client.app, "alpeak.localhost", lambda t: t.brand_color == "#0055aa")
        page = await overview(client, seeded.customer_id)
        assert "#0055aa" in page
        assert "#aa0000" not in page


async def test_customers_whose_ids_share_a_prefix_never_see_each_others_page(
    pool: asyncpg.Pool, settings: Settings, aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    first = await create_tenant(pool, slug="first", name="First Tenant")
    second = await create_tenant(pool, slug="second", name="Second Tenant")
    short, long = "cus_" + "A" * 22, "cus_" + "A" * 22 + "1"
    for tenant_id, customer_id, name in (
        (first.id, short, "Short Customer"),
        (second.id, long, "Long Customer"),
    ):
        await pool.execute(
            "INSERT INTO customers (id, tenant_id, name) VALUES ($1, $2, $3)",
            customer_id,
            tenant_id,
            name,
        )
    client = await aiohttp_client(create_app(settings))
    hosts = {short: {"Host": "first.localhost:8080"}, long: {"Host": "second.localhost:8080"}}
    for _ in range(2):
        assert "Short Customer" in await overview(client, short, hosts[short])
        assert "Long Customer" in await overview(client, long, hosts[long])
    page = await overview(client, long, hosts[long])
    assert "Short Customer" not in page
    assert "First Tenant" not in page
    # Each customer id on the other tenant's host is unknown there, cached or not.
    for customer_id, host in ((short, hosts[long]), (long, hosts[short])):
        assert (await client.get(f"/portal/{customer_id}", headers=host)).status == 404


async def test_concurrent_views_of_two_tenants_customers_share_reads_not_pages(
    pool: asyncpg.Pool, settings: Settings, aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    first = await create_tenant(pool, slug="first", name="First Tenant")
    second = await create_tenant(pool, slug="second", name="Second Tenant")
    customer_id = "cus_" + "B" * 22
    other_id = "cus_" + "B" * 22 + "2"
    names = {customer_id: "Customer Of First", other_id: "Customer Of Second"}
    for tenant_id, cus in ((first.id, customer_id), (second.id, other_id)):
        await pool.execute(
            "INSERT INTO customers (id, tenant_id, name) VALUES ($1, $2, $3)",
            cus,
            tenant_id,
            names[cus],
        )
    client = await aiohttp_client(create_app(settings))
    views = [
        (customer_id, {"Host": "first.localhost:8080"}, "Customer Of First"),
        (other_id, {"Host": "second.localhost:8080"}, "Customer Of Second"),
        # The first tenant's customer id on the second tenant's host: unknown there.
        (customer_id, {"Host": "second.localhost:8080"}, None),
    ] * 20
    reads = client.app[CUSTOMER_READS]
    before = reads.statements
    responses = await asyncio.gather(
        *(client.get(f"/portal/{cus}", headers=host) for cus, host, _ in views)
    )
    for response, (_, _, expected) in zip(responses, views, strict=True):
        page = await response.text()
        if expected is None:
            assert response.status == 404
            continue
        assert response.status == 200
        assert expected in page
        (other,) = set(names.values()) - {expected}
        assert other not in page
    # Sixty views asked at once: their customer reads went out in a few statements.
    assert reads.statements - before < len(views) / 2


async def test_two_visitors_get_their_own_csrf_tokens_from_one_cached_page(
    pool: asyncpg.Pool, seeded: Seeded, replicas: tuple[Client, Client]
) -> None:
    client = replicas[0]
    await make_another_card_the_default(pool, seeded, client)  # forms with tokens
    first = await overview(client, seeded.customer_id)
    await asyncio.sleep(1.1)  # a token names the second it was issued in
    hits = client.app[PAGE_CACHE].hits
    second = await overview(client, seeded.customer_id)
    assert client.app[PAGE_CACHE].hits == hits + 1
    tokens = [CSRF_INPUT.findall(page) for page in (first, second)]
    assert tokens[0]
    assert tokens[1]
    assert set(tokens[0]).isdisjoint(tokens[1])
    assert CSRF_INPUT.sub("", first) == CSRF_INPUT.sub("", second)


async def test_a_matching_entity_tag_gets_304_until_the_data_changes(
    pool: asyncpg.Pool, seeded: Seeded, replicas: tuple[Client, Client]
) -> None:
    client = replicas[0]
    path = f"/portal/{seeded.customer_id}"
    response = await client.get(path, headers=ALPEAK)
    tag = response.headers["ETag"]
    again = await client.get(path, headers={**ALPEAK, "If-None-Match": tag})
    assert again.status == 304
    assert await again.read() == b""
    # The other replica agrees on the tag: it names the data, not the process.
    other = await replicas[1].get(path, headers={**ALPEAK, "If-None-Match": tag})
    assert other.status == 304
    await a_new_invoice(pool, seeded, client)
    changed = await client.get(path, headers={**ALPEAK, "If-None-Match": tag})
    assert changed.status == 200
    assert changed.headers["ETag"] != tag
    assert "€314.00" in await changed.text()


async def test_a_one_time_notice_is_shown_once_and_never_cached(
    pool: asyncpg.Pool, seeded: Seeded, replicas: tuple[Client, Client]
) -> None:
    client = replicas[0]
    older = await make_another_card_the_default(pool, seeded, client)
    page = await overview(client, seeded.customer_id)
    token = CSRF_INPUT.search(page)
    assert token is not None
    response = await client.post(
        f"/portal/{seeded.customer_id}/payment_methods/{older}/default",
        data={"csrf_token": token[1]},
        headers={**ALPEAK, **ORIGIN},
    )
    assert response.status == 200
    assert "Your default payment method was changed." in await response.text()
    assert "Your default payment method was changed." not in await overview(
        client, seeded.customer_id
    )


async def test_each_invoice_page_of_a_customer_is_cached_as_its_own_page(
    seeded: Seeded, pool: asyncpg.Pool, replicas: tuple[Client, Client]
) -> None:
    client, _ = replicas
    first = await final_invoice(pool, seeded.alpeak.id, seeded.customer_id, amount=1250)
    second = await final_invoice(pool, seeded.alpeak.id, seeded.customer_id, amount=9120)
    for _ in range(2):
        for invoice, total in ((first, "€12.50"), (second, "€91.20")):
            response = await client.get(
                f"/portal/{seeded.customer_id}/invoices/{invoice.id}", headers=ALPEAK
            )
            page = await response.text()
            assert response.status == 200, page
            assert f"Invoice {invoice.number}" in page
            assert total in page
