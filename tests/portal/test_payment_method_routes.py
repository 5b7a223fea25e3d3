"""Cards in the portal without script: make default, remove after confirming, notices.

Through the whole gateway against a real localstripe, as a customer (what the
pages say) and as the tenant (what the database and the outbox hold).
"""

from __future__ import annotations

import re

from billing.outbox import list_events
from billing.subscriptions import create_subscription
from tests.fixtures.localstripe import localstripe  # noqa: F401
from tests.portal.test_payments import (  # noqa: F401
    ALPEAK,
    BOREALIS,
    Shop,
    save_card,
    shop,
    topup_form,
)

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


async def overview(shop: Shop, headers: dict[str, str] = ALPEAK) -> str:  # noqa: F811
    response = await shop.client.get(f"/portal/{shop.customer_id}", headers=headers)
    assert response.status == 200
    return str(await response.text())


async def token(shop: Shop) -> str:  # noqa: F811
    """A form token as the pages issue it (the buy-credits form always has one)."""
    return (await topup_form(shop))["csrf_token"]


async def defaults(shop: Shop) -> dict[str, bool]:  # noqa: F811
    rows = await shop.pool.fetch(
        "SELECT id, is_default FROM payment_methods WHERE tenant_id = $1 AND status = 'active'",
        shop.tenant.id,
    )
    return {row["id"]: row["is_default"] for row in rows}


async def subscribe(shop: Shop) -> None:  # noqa: F811
    await create_subscription(
        shop.pool,
        tenant_id=shop.tenant.id,
        data={
            "customer": shop.customer_id,
            "plan_name": "Pro",
            "items": [{"name": "Seat", "unit_amount": 1000, "interval": "month"}],
        },
    )


async def test_each_card_shows_its_expiry_and_added_day_and_only_others_offer_make_default(
    shop: Shop,  # noqa: F811
) -> None:
    first = await save_card(shop, "4242424242424242")
    second = await save_card(shop, "4242424242424242")
    page = await overview(shop)
    assert page.count("Visa ending in 4242") >= 2
    assert page.count("added on ") == 2
    # The newest card is the default: the old one offers the button, the default does not.
    assert f"/payment_methods/{first}/default" in page
    assert f"/payment_methods/{second}/default" not in page
    default_item = page[page.index(f'id="{second}"') :].split("</li>", 1)[0]
    assert ">Default<" in default_item
    other_item = page[page.index(f'id="{first}"') :].split("</li>", 1)[0]
    assert ">Default<" not in other_item


async def test_making_a_card_the_default_moves_the_mark_shows_a_notice_once_and_tells_the_tenant(
    shop: Shop,  # noqa: F811
) -> None:
    first = await save_card(shop, "5555555555554444")
    second = await save_card(shop, "4242424242424242")
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/payment_methods/{first}/default",
        data={"csrf_token": await token(shop)},
        headers=ALPEAK,
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == f"/portal/{shop.customer_id}"
    assert await defaults(shop) == {first: True, second: False}

    page = await overview(shop)
    assert "Your default payment method was changed." in page
    assert 'role="status"' in page
    assert "Your default payment method was changed." not in await overview(shop)

    events = await list_events(
        shop.pool, tenant_id=shop.tenant.id, type="payment_method.default_changed"
    )
    assert [
        (event.payload["payment_method"], event.payload["previous_default"]) for event in events
    ] == [(first, second)]


async def test_making_the_default_card_the_default_again_changes_and_announces_nothing(
    shop: Shop,  # noqa: F811
) -> None:
    card = await save_card(shop, "4242424242424242")
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/payment_methods/{card}/default",
        data={"csrf_token": await token(shop)},
        headers=ALPEAK,
        allow_redirects=False,
    )
    assert response.status == 303
    assert await defaults(shop) == {card: True}
    assert (
        await list_events(
            shop.pool, tenant_id=shop.tenant.id, type="payment_method.default_changed"
        )
        == []
    )


async def test_remove_asks_first_on_a_page_then_removes_and_says_so(
    shop: Shop,  # noqa: F811
) -> None:
    card = await save_card(shop, "5555555555554444")
    await save_card(shop, "4242424242424242")
    response = await shop.client.get(
        f"/portal/{shop.customer_id}/payment_methods/{card}/remove", headers=ALPEAK
    )
    assert response.status == 200
    page = await response.text()
    assert "ending in 4444" in page
    assert "added on " in page
    assert f'action="/portal/{shop.customer_id}/payment_methods/{card}/delete"' in page
    assert "Remove this card" in page
    # Looking at the confirmation changes nothing.
    assert card in await defaults(shop)

    form_token = CSRF_INPUT.search(page)
    assert form_token is not None
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/payment_methods/{card}/delete",
        data={"csrf_token": form_token[1]},
        headers=ALPEAK,
    )
    assert response.status == 200
    page = await response.text()
    assert "The card was removed." in page
    assert "ending in 4444" not in page
    status = await shop.pool.fetchval("SELECT status FROM payment_methods WHERE id = $1", card)
    assert status == "detached"


async def test_the_last_card_of_a_subscriber_is_explained_on_the_page_before_any_button(
    shop: Shop,  # noqa: F811
) -> None:
    card = await save_card(shop, "4242424242424242")
    await subscribe(shop)
    response = await shop.client.get(
        f"/portal/{shop.customer_id}/payment_methods/{card}/remove", headers=ALPEAK
    )
    assert response.status == 200
    page = await response.text()
    assert "This card pays for your Pro subscription." in page
    assert 'role="alert"' in page
    assert f"/portal/{shop.customer_id}/payment_methods/new" in page
    assert "Remove this card" not in page
    # This tenant does not let customers cancel: the page does not offer it.
    assert "Cancel the subscription instead" not in page
    # A forced POST gets the same page, in the portal layout, and keeps the card.
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/payment_methods/{card}/delete",
        data={"csrf_token": await token(shop)},
        headers=ALPEAK,
        allow_redirects=False,
    )
    assert response.status == 409
    page = await response.text()
    assert "This card pays for your Pro subscription." in page
    assert f'href="/portal/{shop.customer_id}"' in page
    assert "Back to your billing overview" in page
    status = await shop.pool.fetchval("SELECT status FROM payment_methods WHERE id = $1", card)
    assert status == "active"


async def test_another_customers_or_tenants_card_is_not_found_and_left_alone(
    shop: Shop,  # noqa: F811
) -> None:
    mine = await save_card(shop, "4242424242424242")
    other = await shop.pool.fetchrow(
        "INSERT INTO customers (id, tenant_id, name, currency) "
        "VALUES ('cus_' || md5(random()::text), $1, 'Eve', 'EUR') RETURNING id",
        shop.tenant.id,
    )
    form = {"csrf_token": await token(shop)}
    for path in ("default", "delete"):
        response = await shop.client.post(
            f"/portal/{other['id']}/payment_methods/{mine}/{path}", data=form, headers=ALPEAK
        )
        assert response.status in (403, 404)
    response = await shop.client.get(
        f"/portal/{shop.customer_id}/payment_methods/pm_{'x' * 22}/remove", headers=ALPEAK
    )
    assert response.status == 404
    for path in ("default", "delete"):
        response = await shop.client.post(
            f"/portal/{shop.customer_id}/payment_methods/{mine}/{path}",
            data=form,
            headers=BOREALIS,
        )
        assert response.status == 404
    response = await shop.client.get(
        f"/portal/{shop.customer_id}/payment_methods/{mine}/remove", headers=BOREALIS
    )
    assert response.status == 404
    assert await defaults(shop) == {mine: True}


async def test_make_default_without_the_csrf_token_is_refused(
    shop: Shop,  # noqa: F811
) -> None:
    first = await save_card(shop, "5555555555554444")
    second = await save_card(shop, "4242424242424242")
    response = await shop.client.post(
        f"/portal/{shop.customer_id}/payment_methods/{first}/default", data={}, headers=ALPEAK
    )
    assert response.status == 403
    assert await defaults(shop) == {first: False, second: True}


async def test_a_forged_notice_cookie_shows_nothing(shop: Shop) -> None:  # noqa: F811
    response = await shop.client.get(
        f"/portal/{shop.customer_id}",
        headers={**ALPEAK, "Cookie": "gateway_notice=card_removed.forged"},
    )
    assert "The card was removed." not in await response.text()
