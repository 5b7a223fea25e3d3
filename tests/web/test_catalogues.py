"""The gettext catalogues match the code, and the product offers exactly the complete ones.

Each of the ten languages of the EU markets the demo serves translates every message the
code uses (none fuzzy), keeps none it no longer uses, keeps each message's placeholders and
has the plural forms its language needs; a catalogue that is not complete is not offered.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

from billing.fields import SUPPORTED_LANGUAGES
from billing.formatting import format_day, format_money, format_rate
from web.catalogues import (
    catalogue_path,
    complete_languages,
    message_key,
    offered_languages,
    read_catalogue,
)

ROOT = Path(__file__).resolve().parents[2]
# English, French, German, Spanish, Italian, Dutch, Portuguese, Polish, Swedish, Danish.
EU_LANGUAGES = ("en", "fr", "de", "es", "it", "nl", "pt", "pl", "sv", "da")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]")
Key = tuple[str | None, str]


def _extracted(output: Path) -> Catalog:
    """What `pybabel extract -F babel.cfg` finds in the code and templates today."""
    pybabel = Path(sys.executable).with_name("pybabel")
    command: list[str | Path] = [pybabel, "extract", "-F", "babel.cfg", "-o", output, "."]
    subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
    catalog = read_catalogue_file(output)
    assert len(catalog) > 100, "extraction found almost nothing: babel.cfg is wrong"
    return catalog


def read_catalogue_file(path: Path) -> Catalog:
    with path.open("rb") as source:
        return read_po(source)


def _keys(catalog: Catalog) -> set[Key]:
    return {message_key(message) for message in catalog if message.id}


def _forms(message: Message) -> list[str]:
    strings = message.string
    return [str(form) for form in strings] if isinstance(strings, tuple | list) else [strings or ""]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return _extracted(tmp_path_factory.mktemp("catalogues") / "messages.pot")


def test_the_product_offers_exactly_the_ten_languages_english_first() -> None:
    assert offered_languages()[0] == "en"
    assert sorted(offered_languages()) == sorted(EU_LANGUAGES)


def test_a_customer_may_choose_every_offered_language() -> None:
    assert set(offered_languages()) <= set(SUPPORTED_LANGUAGES)


@pytest.mark.parametrize("language", EU_LANGUAGES)
def test_a_catalogue_translates_every_message_the_code_uses(
    extracted: Catalog, language: str
) -> None:
    catalogue = read_catalogue(language)
    translated = {
        message_key(message)
        for message in catalogue
        if message.id and not message.fuzzy and all(_forms(message))
    }
    missing = _keys(extracted) - translated
    assert not missing, f"{language}: untranslated or fuzzy (run pybabel update): {missing}"


@pytest.mark.parametrize("language", EU_LANGUAGES)
def test_a_catalogue_keeps_no_message_the_code_no_longer_uses(
    extracted: Catalog, language: str
) -> None:
    catalogue = read_catalogue(language)
    stale = _keys(catalogue) - _keys(extracted)
    assert not stale, f"{language}: obsolete messages (remove them): {stale}"
    assert not catalogue.obsolete, f"{language}: #~ obsolete entries left in the file"


def _names(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("language", EU_LANGUAGES)
def test_a_catalogue_keeps_the_placeholders_of_each_message(language: str) -> None:
    catalogue = read_catalogue(language)
    for message in catalogue:
        if not message.id:
            continue
        assert not list(message.check(catalogue)), (language, message.id)
        forms = _forms(message)
        if isinstance(message.id, str):
            assert _names(forms[0]) == _names(message.id), (language, message.id)
            continue
        singular, plural = (_names(text) for text in message.id)
        # The first form is the one for a single item: it may leave the count out.
        assert singular - {"num"} <= _names(forms[0]) <= singular | plural, (language, forms[0])
        for form in forms[1:]:
            assert _names(form) == plural, (language, form)


@pytest.mark.parametrize("language", EU_LANGUAGES)
def test_a_catalogue_has_the_plural_forms_of_its_language(language: str) -> None:
    catalogue = read_catalogue(language)
    expected = get_plural(language)
    assert catalogue.num_plurals == expected.num_plurals
    assert catalogue.plural_expr == expected.plural_expr
    plurals = [message for message in catalogue if isinstance(message.id, tuple)]
    assert plurals, "no plural message to check"
    for message in plurals:
        forms = _forms(message)
        assert len(forms) == expected.num_plurals, (language, message.id)
        assert all(forms), (language, message.id)


def test_polish_counts_in_three_forms() -> None:
    catalogue = read_catalogue("pl")
    months = catalogue.get(("month", "%(num)d months"))
    assert months is not None
    assert catalogue.num_plurals == 3
    assert _forms(months) == ["miesiąc", "%(num)d miesiące", "%(num)d miesięcy"]


def _copy_catalogues(target: Path, *languages: str) -> None:
    for language in languages:
        destination = catalogue_path(language, directory=target)
        destination.parent.mkdir(parents=True)
        shutil.copyfile(catalogue_path(language), destination)


def _rewrite(directory: Path, language: str, change: str) -> None:
    """Leave one message of `language` untranslated, or mark it fuzzy."""
    catalogue = read_catalogue(language, directory=directory)
    message = next(message for message in catalogue if message.id == "Pay %(amount)s")
    if change == "fuzzy":
        message.flags.add("fuzzy")
    else:
        message.string = ""
    with catalogue_path(language, directory=directory).open("wb") as output:
        write_po(output, catalogue)


@pytest.mark.parametrize("change", ["untranslated", "fuzzy"])
def test_a_half_done_catalogue_is_not_offered(tmp_path: Path, change: str) -> None:
    _copy_catalogues(tmp_path, "en", "de", "pl")
    assert complete_languages(tmp_path) == ("en", "de", "pl")
    _rewrite(tmp_path, "de", change)
    assert complete_languages(tmp_path) == ("en", "pl")


def test_a_catalogue_missing_a_message_added_since_is_not_offered(tmp_path: Path) -> None:
    _copy_catalogues(tmp_path, "en", "sv")
    english = read_catalogue("en", directory=tmp_path)
    english.add("Set as default", "Set as default")
    with catalogue_path("en", directory=tmp_path).open("wb") as output:
        write_po(output, english)
    assert complete_languages(tmp_path) == ("en",)


@pytest.mark.parametrize("language", [code for code in EU_LANGUAGES if code != "en"])
def test_every_offered_language_writes_money_rates_and_dates_its_own_way(language: str) -> None:
    assert language in offered_languages()
    money = format_money(123450, "EUR", language)
    assert money != format_money(123450, "EUR", "en")
    assert "€" in money, money
    assert ",50" in money, money  # a decimal comma in each of them
    assert format_rate(550, language).startswith("5,5"), format_rate(550, language)
    day = format_day(date(2026, 10, 1), language)
    assert "2026" in day, day
    assert day != format_day(date(2026, 10, 1), "en"), day


def test_german_and_danish_write_the_day_with_a_dot() -> None:
    assert format_day(date(2026, 12, 6), "de") == "6. Dez. 2026"
    assert format_day(date(2026, 12, 6), "da") == "6. dec. 2026"
    assert format_day(date(2026, 12, 6), "fr") == "6 déc. 2026"


def test_portuguese_writes_money_and_dates_as_in_portugal() -> None:
    assert format_money(123450, "EUR", "pt") == "1\xa0234,50\xa0€"  # Brazil: € 1.234,50
    assert format_day(date(2026, 10, 1), "pt") == "1 out. 2026"
