"""Language choice and translation through the gettext catalogues."""

from __future__ import annotations

import jinja2

from web.i18n import Translator, choose_language, install_gettext


def test_language_choice_follows_the_browser_then_the_customer_within_what_is_supported() -> None:
    assert choose_language("de-CH, fr;q=0.8", None, supported=("en", "fr")) == "fr"
    assert choose_language("fr-CA", None) == "fr"
    assert choose_language("de", "FR", supported=("en", "fr")) == "fr"
    assert choose_language("de", "de", supported=("en", "fr")) == "en"
    assert choose_language("fr;q=0, de", None, supported=("en", "fr")) == "en"


def test_french_reads_french_and_an_unknown_language_reads_english() -> None:
    assert Translator("fr").gettext("Pay %(amount)s", amount="5 €") == "Payer 5 €"
    assert Translator("xx").gettext("Pay %(amount)s", amount="€5") == "Pay €5"


def test_a_count_chooses_the_plural_form_of_the_language() -> None:
    french = Translator("fr")
    assert french.ngettext("month", "%(num)d months", 1) == "mois"
    assert french.ngettext("month", "%(num)d months", 3) == "3 mois"
    assert Translator("en").ngettext("day", "%(num)d days", 2) == "2 days"


def test_the_same_english_word_in_two_contexts_has_two_french_words() -> None:
    french = Translator("fr")
    assert french.pgettext("invoice status", "Open") == "À payer"
    assert french.pgettext("checkout", "Tax") == "Taxes"
    assert french.gettext("Tax") == "TVA"


def test_templates_translate_in_the_pages_language_and_escape_the_values() -> None:
    environment = jinja2.Environment(autoescape=True)
    install_gettext(environment)
    template = environment.from_string("{{ _('Pay %(amount)s', amount=amount) }}")
    assert template.render(i18n=Translator("fr"), amount="<b>") == "Payer &lt;b&gt;"
