"""Checkout's words: a French page shows no English sentence, the script types none."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from checkout import routes
from tests.checkout.conftest import ALPEAK, Shop
from web.catalogues import catalogue_path
from web.i18n import translator

CHECKOUT = Path(routes.__file__).parent


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
    french_words = translator("fr").catalogue
    with catalogue_path("en").open("rb") as source:
        english = [m.id for m in read_po(source) if isinstance(m.id, str) and m.id]
    for sentence in english:
        # "Pro plan" is this session's own item name (data), not a sentence of the page.
        skip = "%" in sentence or " " not in sentence or sentence == "Pro plan"
        if skip or sentence == french_words.gettext(sentence):
            continue
        assert sentence not in page, sentence
    await shop.client.post(f"/api/v1/checkout_sessions/{created['id']}/expire", headers=shop.api)
    closed = await (await shop.client.get(f"/checkout/{created['id']}", headers=french)).text()
    assert "Ce lien de paiement a expiré" in closed
    assert "has expired" not in closed
