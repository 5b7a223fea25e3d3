"""Paying an open invoice in a real Chromium: a new card, a decline, 3-D Secure.

The gateway listens on a real port, the page loads localstripe's Stripe.js
stand-in; each test starts from the overview's Pay link and checks what the
customer sees and what the database holds.
"""

# The fixtures are imported from the portal's browser tests; tests take them by name.
# ruff: noqa: F811

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.dates import CARD_EXP_YEAR_2
from tests.fixtures.browser import (  # noqa: F401
    browser_endpoint,
    new_page,
    page,
    page_errors,
)
from tests.fixtures.localstripe import localstripe  # noqa: F401
from tests.portal.seed import final_invoice
from tests.portal.test_browser import Portal, portal, saved_card  # noqa: F401

pytestmark = pytest.mark.slow

DUE = 9120


async def open_pay_form(page: Any, portal: Portal) -> str:
    """An open invoice of €91.20; from the overview, its Pay link; returns its id."""
    invoice = await final_invoice(portal.pool, portal.tenant.id, portal.customer_id, amount=DUE)
    await page.goto(portal.url)
    invoices = page.get_by_role("region", name="Recent invoices")
    await invoices.get_by_role("link", name=re.compile(r"^Pay ")).click()
    await expect(page.get_by_role("heading", name="Pay this invoice")).to_be_visible()
    return invoice.id


async def type_card(page: Any, number: str) -> None:
    card = page.locator("#pay-card-element")
    await card.get_by_placeholder("number", exact=True).fill(number)
    await card.get_by_placeholder("exp_month", exact=True).fill("12")
    await card.get_by_placeholder("exp_year", exact=True).fill(CARD_EXP_YEAR_2)
    await card.get_by_placeholder("cvc", exact=True).fill("123")
    await card.get_by_placeholder("postal_code", exact=True).fill("75001")


async def invoice_row(portal: Portal, invoice_id: str) -> Any:
    return await portal.pool.fetchrow(
        "SELECT status, paid_at, paid_with, paid_with_detail, amount_paid, "
        "(SELECT count(*) FROM outbound_events WHERE type = 'invoice.paid' "
        " AND payload->>'invoice' = invoices.id) AS events, "
        "(SELECT count(*) FROM invoice_payments WHERE invoice_id = invoices.id) AS attempts "
        "FROM invoices WHERE id = $1",
        invoice_id,
    )


async def test_paying_with_a_new_card_marks_the_invoice_paid_on_the_page(
    portal: Portal,
    page: Any,
    page_errors: list[str],
) -> None:
    invoice_id = await open_pay_form(page, portal)
    await type_card(page, "4242424242424242")
    await page.get_by_role("button", name="Pay €91.20").click()
    await expect(page.locator("#payment-outcome")).to_contain_text("Thank you: €91.20 was paid on")
    await expect(page.locator("h1 .badge")).to_have_text("Paid")
    await expect(page.locator("#paid-with")).to_have_text("Visa ending in 4242")
    await expect(page.locator("#pay-form")).to_have_count(0)
    row = await invoice_row(portal, invoice_id)
    assert (row["status"], row["amount_paid"], row["paid_with"]) == ("paid", DUE, "card")
    assert (row["paid_with_detail"], row["events"], row["attempts"]) == ("visa 4242", 1, 1)
    await page.goto(portal.url)
    await expect(page.get_by_role("link", name=re.compile(r"^Pay "))).to_have_count(0)
    assert page_errors == []


async def test_a_declined_card_says_so_and_leaves_the_invoice_open(
    portal: Portal,
    page: Any,
    page_errors: list[str],
) -> None:
    invoice_id = await open_pay_form(page, portal)
    await type_card(page, "4000000000000002")
    await page.get_by_role("button", name="Pay €91.20").click()
    await expect(page.locator("#pay-status")).to_contain_text("declined")
    await expect(page.get_by_role("button", name="Pay €91.20")).to_be_enabled()
    row = await invoice_row(portal, invoice_id)
    assert (row["status"], row["paid_at"], row["events"], row["attempts"]) == ("open", None, 0, 0)
    # The refusal is answered by the provider with a 402, which the console reports.
    assert all("402" in error for error in page_errors)


async def test_a_saved_card_needing_3d_secure_is_confirmed_in_the_page(
    portal: Portal,
    page: Any,
    page_errors: list[str],
) -> None:
    await saved_card(portal, "4000002500003155")
    invoice_id = await open_pay_form(page, portal)
    await expect(page.get_by_label(re.compile("Visa ending in 3155"))).to_be_checked()
    await page.get_by_role("button", name="Pay €91.20").click()
    await page.get_by_role("button", name="Complete authentication").click()
    await expect(page.locator("#payment-outcome")).to_contain_text("Thank you: €91.20 was paid on")
    await expect(page.locator("#paid-with")).to_have_text("Visa ending in 3155")
    row = await invoice_row(portal, invoice_id)
    assert (row["status"], row["events"], row["attempts"]) == ("paid", 1, 1)
    assert page_errors == []


async def test_a_failed_3d_secure_leaves_the_invoice_open_and_payable_again(
    portal: Portal,
    page: Any,
    page_errors: list[str],
) -> None:
    await saved_card(portal, "4000002500003155")
    invoice_id = await open_pay_form(page, portal)
    await page.get_by_role("button", name="Pay €91.20").click()
    await page.get_by_role("button", name="Fail authentication").click()
    await expect(page.locator("#pay-status")).to_contain_text("Nothing was charged.")
    await expect(page.get_by_role("button", name="Pay €91.20")).to_be_enabled()
    row = await invoice_row(portal, invoice_id)
    assert (row["status"], row["events"]) == ("open", 0)
