"""The shared translator: a surface's own words first, shared words next, English last."""

from __future__ import annotations

from web.i18n import choose_language, layered_translator

OWN = {"en": {"title": "Checkout", "pay": "Pay {amount}"}, "fr": {"title": "Paiement"}}
SHARED = {"en": {"title": "Billing", "back": "Back"}, "fr": {"back": "Retour"}}


def test_a_surfaces_own_words_win_then_shared_ones_then_english() -> None:
    t = layered_translator([OWN, SHARED], "fr")
    assert t("title") == "Paiement"  # own French
    assert t("back") == "Retour"  # shared French before own English
    assert t("pay", amount="€5") == "Pay €5"  # English when French has none
    assert t("missing.key") == "missing.key"  # the key itself, never an error


def test_an_unknown_language_reads_english() -> None:
    assert layered_translator([OWN, SHARED], "xx")("title") == "Checkout"


def test_language_choice_follows_the_browser_then_the_customer_within_what_is_supported() -> None:
    assert choose_language("de-CH, fr;q=0.8", None, supported=("en", "fr")) == "fr"
    assert choose_language("de", "FR", supported=("en", "fr")) == "fr"
    assert choose_language("de", "de", supported=("en", "fr")) == "en"
    assert choose_language("fr;q=0, de", None, supported=("en", "fr")) == "en"
