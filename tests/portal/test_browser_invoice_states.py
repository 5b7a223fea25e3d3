"""An invoice's state at a glance in Chromium: paid with its day, open with its due day and a
pay button, void.

Each state's badge must be readable (WCAG 2.1 success criterion 1.4.3: text at 4.5:1 or
more against its background), measured on the colours the page's own CSS gives it, and
paid must not look like open (issue #15: both badges once shared a colour).
"""

# The fixtures are imported from the portal's browser tests; tests take them by name.
# ruff: noqa: F811

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from billing.formatting import format_day
from billing.invoices import create_invoice, finalize_invoice, void_invoice
from kernel.colors import contrast_ratio
from tests.dates import days_from_now
from tests.fixtures.browser import (  # noqa: F401
    browser_endpoint,
    new_page,
    page,
    page_errors,
)
from tests.fixtures.localstripe import localstripe  # noqa: F401
from tests.portal.seed import final_invoice
from tests.portal.test_browser import Portal, portal  # noqa: F401

pytestmark = pytest.mark.slow

RGB = re.compile(r"^rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)$")


def opaque_hex(css_colour: str) -> str:
    """`rgb(22, 101, 52)` as `#166534`; a see-through colour fails (its contrast is unknown)."""
    found = RGB.match(css_colour)
    assert found is not None, css_colour
    assert found.group(4) in (None, "1"), f"{css_colour} is not opaque"
    return "#" + "".join(f"{int(found.group(index)):02x}" for index in (1, 2, 3))


async def badge(page: Any, portal: Portal, invoice_id: str) -> tuple[str, str, str]:
    """Open the invoice's page: its badge's text, text colour and background colour."""
    await page.goto(f"{portal.url}/invoices/{invoice_id}")
    found = page.locator("h1 .badge")
    colours: list[str] = await found.evaluate(
        "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
    )
    return await found.inner_text(), opaque_hex(colours[0]), opaque_hex(colours[1])


async def invoice_times(portal: Portal, invoice_id: str) -> Any:
    return await portal.pool.fetchrow(
        "SELECT paid_at, voided_at, due_at FROM invoices WHERE tenant_id = $1 AND id = $2",
        portal.tenant.id,
        invoice_id,
    )


async def test_paid_open_and_void_invoices_say_their_state_in_readable_distinct_badges(
    portal: Portal,
    page: Any,
    page_errors: list[str],
) -> None:
    paid = await final_invoice(portal.pool, portal.tenant.id, portal.customer_id, paid=True)
    draft = await create_invoice(
        portal.pool,
        tenant_id=portal.tenant.id,
        data={
            "customer": portal.customer_id,
            "currency": "EUR",
            "due_at": days_from_now(14).isoformat(),
            "lines": [{"description": "Ski rental", "quantity": 1, "unit_amount": 9120}],
        },
    )
    due = await finalize_invoice(portal.pool, tenant_id=portal.tenant.id, invoice_id=draft.id)
    voided = await final_invoice(portal.pool, portal.tenant.id, portal.customer_id)
    await void_invoice(portal.pool, tenant_id=portal.tenant.id, invoice_id=voided.id)
    state = page.locator("#invoice-state")
    pay_button = page.get_by_role("link", name="Pay this invoice")
    colours: dict[str, tuple[str, str]] = {}

    text, colour, background = await badge(page, portal, paid.id)
    paid_at = (await invoice_times(portal, paid.id))["paid_at"]
    assert text == "Paid"
    await expect(state).to_have_text(f"Paid on {format_day(paid_at, 'en')}")
    await expect(page.locator("#paid-on")).to_have_text(format_day(paid_at, "en"))
    await expect(pay_button).to_have_count(0)
    await expect(page.locator("#pay")).to_have_count(0)
    colours["paid"] = (colour, background)

    text, colour, background = await badge(page, portal, due.id)
    due_at = (await invoice_times(portal, due.id))["due_at"]
    assert text == "Open"
    await expect(state).to_contain_text(f"Open: due on {format_day(due_at, 'en')}")
    await pay_button.click()
    await expect(page.get_by_role("button", name="Pay €91.20")).to_be_visible()
    colours["open"] = (colour, background)

    text, colour, background = await badge(page, portal, voided.id)
    voided_at = (await invoice_times(portal, voided.id))["voided_at"]
    assert text == "Void"
    await expect(state).to_have_text(
        f"Void: nothing is due. Voided on {format_day(voided_at, 'en')}"
    )
    await expect(pay_button).to_have_count(0)
    colours["void"] = (colour, background)

    ratios = {status: contrast_ratio(*pair) for status, pair in colours.items()}
    assert all(ratio >= 4.5 for ratio in ratios.values()), ratios
    assert len({background for _, background in colours.values()}) == 3, colours
    assert page_errors == []
