"""The hosted checkout page as a customer sees it: summary, form, closed sessions, other hosts."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from tests.checkout.conftest import ALPEAK, BOREALIS, CANCEL_URL, Shop


async def test_a_session_created_through_the_api_opens_as_a_branded_payment_page(
    shop: Shop,
) -> None:
    created = await shop.create_session(trial_days=14)
    assert created["url"] == f"http://alpeak.localhost:8080/checkout/{created['id']}"
    response = await shop.client.get(f"/checkout/{created['id']}", headers=ALPEAK)
    assert response.status == 200
    page = await response.text()
    assert "Pay Alpeak Outdoor" in page
    assert "--brand: #aa0000" in page
    assert "Pro plan" in page
    assert "Setup" in page
    # The trial defers the plan: only the setup fee is due today.
    assert re.search(r'id="due-today"><strong>€50\.00<', page)
    assert "Free for 14 days, then €29.00 every month." in page
    assert 'value="Ada Lovelace"' in page
    assert 'value="ada@example.com"' in page
    assert 'id="card-element"' in page
    assert f'href="{CANCEL_URL}"' in page
    assert 'name="csrf_token"' in page
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    policy = response.headers["Content-Security-Policy"]
    assert shop.server.js_url.split("/js.stripe.com")[0] in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]


async def test_the_page_loads_the_shared_billing_form_script_from_its_own_host(
    shop: Shop,
) -> None:
    created = await shop.create_session()
    page = await (await shop.client.get(f"/checkout/{created['id']}", headers=ALPEAK)).text()
    scripts = re.findall(r'<script src="([^"]+)"></script>', page)
    # The billing form's error display must exist before the page script uses it.
    # Content-hashed names: a changed script is a new URL.
    assert [re.sub(r"\.[0-9a-f]{12}\.js$", ".js", path) for path in scripts[1:]] == [
        "/web-static/billing_form.js",
        "/checkout-static/checkout.js",
    ]
    for path in scripts[1:]:
        response = await shop.client.get(path, headers=ALPEAK)
        assert response.status == 200, path
        assert "javascript" in response.headers["Content-Type"]
    script = await (await shop.client.get(scripts[1], headers=ALPEAK)).text()
    assert "window.billingForm" in script


async def test_a_known_customer_finds_the_billing_form_filled_in(shop: Shop) -> None:
    from billing.customers import create_customer

    customer = await create_customer(
        shop.pool,
        tenant_id=shop.tenant.id,
        default_currency=shop.tenant.default_currency,
        data={
            "name": "Grace Hopper",
            "email": "grace@example.com",
            "address": {"line1": "1 Navy Way", "city": "Arlington", "country": "US"},
        },
    )
    created = await shop.create_session(customer=customer.id, customer_details=None)
    page = await (await shop.client.get(f"/checkout/{created['id']}", headers=ALPEAK)).text()
    for value in ("Grace Hopper", "grace@example.com", "1 Navy Way", "Arlington"):
        assert f'value="{value}"' in page
    assert '<option value="US" selected>' in page
    assert "Then €29.00 every month, until you cancel." in page
    assert "Pay €79.00" in page


async def test_the_page_speaks_french_to_a_french_browser(shop: Shop) -> None:
    created = await shop.create_session()
    response = await shop.client.get(
        f"/checkout/{created['id']}", headers={**ALPEAK, "Accept-Language": "fr-FR,fr;q=0.9"}
    )
    page = await response.text()
    assert response.headers["Content-Language"] == "fr"
    assert '<html lang="fr">' in page
    assert "Payer Alpeak Outdoor" in page
    assert "Informations de facturation" in page


async def test_another_tenants_host_does_not_find_the_session(shop: Shop) -> None:
    created = await shop.create_session()
    response = await shop.client.get(f"/checkout/{created['id']}", headers=BOREALIS)
    assert response.status == 404
    assert "Alpeak" not in await response.text()
    unknown = await shop.client.get("/checkout/cs_" + "x" * 24, headers=ALPEAK)
    assert unknown.status == 404


async def test_an_expired_session_says_so_and_offers_no_payment_form(shop: Shop) -> None:
    created = await shop.create_session()
    expired = await shop.client.post(
        f"/api/v1/checkout_sessions/{created['id']}/expire", headers=shop.api
    )
    assert expired.status == 200
    response = await shop.client.get(f"/checkout/{created['id']}", headers=ALPEAK)
    assert response.status == 200
    page = await response.text()
    assert "This checkout link has expired" in page
    assert "Nothing was charged." in page
    assert "card-element" not in page
    assert "csrf_token" not in page
    assert "<form" not in page


async def test_a_session_whose_time_ran_out_reads_as_expired(shop: Shop) -> None:
    created = await shop.create_session()
    await shop.pool.execute(
        "UPDATE checkout_sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
        created["id"],
    )
    page = await (await shop.client.get(f"/checkout/{created['id']}", headers=ALPEAK)).text()
    assert "This checkout link has expired" in page
    assert "<form" not in page


async def test_billing_details_are_checked_field_by_field_and_nothing_is_stored(
    shop: Shop,
) -> None:
    created = await shop.create_session()
    token = await shop.csrf_token(created["id"])
    response = await shop.client.post(
        f"/checkout/{created['id']}/customer",
        data={"csrf_token": token, "name": "", "email": "", "country": "ZZ"},
        headers={**ALPEAK, "Accept": "application/json"},
    )
    assert response.status == 422
    problem: dict[str, Any] = await response.json()
    fields = {item["field"] for item in problem["errors"]}
    assert {"name", "email"} <= fields
    response = await shop.client.post(
        f"/checkout/{created['id']}/customer",
        data={"csrf_token": token, "name": "Ada", "email": "not-an-address", "country": "ZZ"},
        headers={**ALPEAK, "Accept": "application/json"},
    )
    assert response.status == 422
    fields = {item["field"] for item in (await response.json())["errors"]}
    assert fields == {"email", "address.country"}
    assert await shop.pool.fetchval("SELECT count(*) FROM customers") == 0


async def test_a_post_without_the_csrf_token_is_forbidden(shop: Shop) -> None:
    created = await shop.create_session()
    response = await shop.client.post(
        f"/checkout/{created['id']}/customer",
        data={"name": "Ada", "email": "ada@example.com"},
        headers=ALPEAK,
    )
    assert response.status == 403
    assert await shop.pool.fetchval("SELECT count(*) FROM customers") == 0


TAXED_ITEMS = [
    {"name": "Pro plan", "unit_amount": 2900, "interval": "month", "tax_rate_bps": 2000},
    {"name": "Setup", "unit_amount": 5000, "tax_rate_bps": 550},
]


async def test_the_summary_shows_each_lines_tax_and_a_tax_total_included_in_what_is_due(
    shop: Shop,
) -> None:
    created = await shop.create_session(line_items=TAXED_ITEMS)
    # 2900 x 20% = 580; 5000 x 5.5% = 275
    assert created["amount_total"] == 2900 + 5000 + 580 + 275
    page = await (await shop.client.get(f"/checkout/{created['id']}", headers=ALPEAK)).text()
    assert "Tax 20%: €5.80" in page
    assert "Tax 5.5%: €2.75" in page
    assert re.search(r'id="subtotal">€79\.00<', page)
    assert re.search(r'id="tax-total">€8\.55<', page)
    assert re.search(r'id="due-today"><strong>€87\.55<', page)
    assert "Pay €87.55" in page
    # The recurring terms quote the plan with its tax, as it is charged today.
    assert "Then €34.80 every month, until you cancel." in page


async def test_an_untaxed_session_shows_no_tax_lines(shop: Shop) -> None:
    created = await shop.create_session()
    page = await (await shop.client.get(f"/checkout/{created['id']}", headers=ALPEAK)).text()
    assert 'id="tax-total"' not in page
    assert "Tax " not in page


async def test_tax_reads_in_french_for_a_french_browser(shop: Shop) -> None:
    created = await shop.create_session(line_items=TAXED_ITEMS)
    response = await shop.client.get(
        f"/checkout/{created['id']}", headers={**ALPEAK, "Accept-Language": "fr"}
    )
    page = await response.text()
    assert "Taxes 5,5\u00a0% : 2,75\u00a0€" in page
    assert "Sous-total" in page
    assert re.search(r'id="tax-total">8,55\u00a0€<', page)
    assert "Payer 87,55\u00a0€" in page


class FormControls(HTMLParser):
    """Every form control, label and element id of a page, as an assistive technology sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, dict[str, str]] = {}
        self.labels: set[str] = set()
        self.controls: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        values["tag"] = tag
        if "id" in values:
            self.ids[values["id"]] = values
        if tag == "label" and "for" in values:
            self.labels.add(values["for"])
        if tag in ("input", "select", "textarea") and values.get("type") != "hidden":
            self.controls.append(values)


async def test_every_control_is_labelled_and_points_at_its_error_message(shop: Shop) -> None:
    created = await shop.create_session()
    response = await shop.client.get(
        f"/checkout/{created['id']}", headers={**ALPEAK, "Accept-Language": "fr"}
    )
    parsed = FormControls()
    parsed.feed(await response.text())
    assert len(parsed.controls) == 9
    for control in parsed.controls:
        assert control["id"] in parsed.labels, control
        [error_id] = control["aria-describedby"].split()
        slot = parsed.ids[error_id]
        # The page script shows this (translated) message there, and marks the control invalid.
        assert slot["data-message"], control
        assert slot["data-message"] != f"error.{control['name']}"
    assert parsed.ids["error-email"]["data-message"] == "Indiquez une adresse e-mail valide."
    card = parsed.ids["card-element"]
    assert card["role"] == "group"
    assert parsed.ids[card["aria-labelledby"]]["tag"] == "legend"
    assert set(card["aria-describedby"].split()) == {"card-help", "error-card"}
    assert parsed.ids["checkout-errors"]["role"] == "alert"
    assert parsed.ids["checkout-status"]["role"] == "status"
    # The page's script reads its words from the page, in the page's language.
    section = parsed.ids["checkout"]
    assert section["data-locale"] == "fr"
    assert section["data-message-failed"].startswith("Une erreur")
    # Narrow screens (360 px): the viewport follows the device; the summary table scrolls.
    page = await (await shop.client.get(f"/checkout/{created['id']}", headers=ALPEAK)).text()
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert '<div class="table-scroll"' in page
