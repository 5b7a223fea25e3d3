"""Checkout's words: every message the pages and the page script use exists in French."""

from __future__ import annotations

import re
from pathlib import Path

from billing.periods import INTERVALS
from checkout import routes
from checkout.messages import MESSAGES, checkout_translator
from tests.checkout.conftest import ALPEAK, Shop
from web.i18n import MESSAGES as PORTAL_MESSAGES

CHECKOUT = Path(routes.__file__).parent
TEMPLATES = sorted((CHECKOUT / "templates" / "checkout").glob("*.html"))
OUTCOME_STATUSES = ("succeeded", "requires_action", "processing", "failed")


def used_message_ids() -> set[str]:
    """Literal ids in the templates and the routes, plus the ones the routes build."""
    found: set[str] = set()
    for template in TEMPLATES:
        found |= set(re.findall(r"\bt\('([^']+)'", template.read_text()))
    found |= set(re.findall(r'\bt\(\s*"([^"]+)"', Path(routes.__file__).read_text()))
    for interval in INTERVALS:
        found |= {f"interval.{interval}", f"interval.{interval}s"}
    found |= {f"outcome.{status}" for status in OUTCOME_STATUSES}
    found |= {f"error.{name}" for name in (*routes.FORM_FIELDS, "card")}
    found |= {"complete.title", "expired.title"}  # t(session.status + '.title')
    return found


def test_every_message_the_checkout_uses_has_a_french_translation() -> None:
    used = used_message_ids()
    assert {"tax.line", "subtotal", "js.failed", "pay", "billing.name"} <= used
    missing_fr = sorted(
        m for m in used if m not in MESSAGES["fr"] and m not in PORTAL_MESSAGES["fr"]
    )
    missing_en = sorted(
        m for m in used if m not in MESSAGES["en"] and m not in PORTAL_MESSAGES["en"]
    )
    assert missing_fr == []
    assert missing_en == []
    assert set(MESSAGES["en"]) == set(MESSAGES["fr"])


def test_translations_keep_their_placeholders() -> None:
    for key, english in MESSAGES["en"].items():
        placeholders = set(re.findall(r"\{(\w+)\}", english))
        assert set(re.findall(r"\{(\w+)\}", MESSAGES["fr"][key])) == placeholders, key


def test_the_page_script_shows_only_words_the_page_gives_it() -> None:
    script = (CHECKOUT / "static" / "checkout.js").read_text()
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("//"))
    # No sentence typed into the script: text set on the page comes from data-message-*.
    assert not re.search(r'(textContent\s*=|failure\(|Error\()\s*"[^"]*[A-Za-z]', code)


async def test_a_french_page_has_none_of_the_english_sentences(shop: Shop) -> None:
    created = await shop.create_session(
        trial_days=14,
        line_items=[
            {"name": "Pro plan", "unit_amount": 2900, "interval": "month", "tax_rate_bps": 2000}
        ],
    )
    french = {**ALPEAK, "Accept-Language": "fr-FR"}
    page = await (await shop.client.get(f"/checkout/{created['id']}", headers=french)).text()
    english = checkout_translator("en")
    for key in sorted(used_message_ids()):
        sentence = english(key)
        if "{" in sentence or sentence == checkout_translator("fr")(key) or " " not in sentence:
            continue
        assert sentence not in page, key
    await shop.client.post(f"/api/v1/checkout_sessions/{created['id']}/expire", headers=shop.api)
    closed = await (await shop.client.get(f"/checkout/{created['id']}", headers=french)).text()
    assert "Ce lien de paiement a expiré" in closed
    assert "has expired" not in closed
