"""The country menu: assigned ISO 3166-1 countries only, named and ordered for the reader."""

from __future__ import annotations

import pytest

from billing.countries import COUNTRY_CODES, check_country, country_choices, country_name
from billing.errors import RuleViolation

LANGUAGES = ("en", "fr", "de", "es", "it", "nl", "pt", "pl", "sv", "da")


def names(language: str) -> list[str]:
    return [name for _, name in country_choices(language)]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_menu_offers_every_assigned_country_and_no_region(language: str) -> None:
    codes = [code for code, _ in country_choices(language)]
    assert len(codes) == len(set(codes)) == 249
    assert set(codes) == COUNTRY_CODES
    offered = set(names(language))
    for region in ("EU", "EZ", "UN", "ZZ", "XA", "XB", "QO", "150", "001"):
        assert region not in codes
        assert country_name(region, language) == region
    english = set(names("en"))
    for label in ("European Union", "Eurozone", "United Nations", "Unknown Region"):
        assert label not in offered
        assert label not in english
    assert "Pseudo-Accents" not in english
    assert "Outlying Oceania" not in english


def test_english_sorts_aland_among_the_as_not_after_zimbabwe() -> None:
    english = names("en")
    assert english.index("Åland Islands") < english.index("Albania")
    assert english.index("Åland Islands") > english.index("Afghanistan")
    assert english[-1] == "Zimbabwe"


def test_french_sorts_accented_names_among_their_letter() -> None:
    french = names("fr")
    # Code point order put every É after Z; collation puts it among the E's.
    assert french.index("Égypte") < french.index("Équateur") < french.index("Érythrée")
    assert french.index("Dominique") < french.index("Égypte")
    assert french.index("Égypte") < french.index("Espagne") < french.index("Estonie")
    assert french.index("États-Unis") < french.index("Éthiopie") < french.index("Fidji")
    assert french[-1] == "Zimbabwe"
    assert french.index("Îles Åland") < french.index("Inde")


def test_german_names_the_countries_in_german_with_umlauts_in_place() -> None:
    german = names("de")
    assert country_name("AT", "de") == "Österreich"
    assert german.index("Oman") < german.index("Österreich") < german.index("Pakistan")
    assert german.index("Ägypten") < german.index("Albanien")


def test_a_code_that_is_not_an_assigned_country_is_refused() -> None:
    assert check_country(" gb ") == "GB"
    for code in ("EU", "UK", "XK", "ZZ", "", "FRA"):
        with pytest.raises(RuleViolation) as refused:
            check_country(code)
        assert refused.value.code == "invalid_country"


def test_swedish_and_danish_put_their_own_letters_after_z() -> None:
    assert names("sv")[-3:] == ["Åland", "Österrike", "Östtimor"]
    assert names("da")[-3:] == ["Ækvatorialguinea", "Østrig", "Åland"]
    assert names("sv")[0] == names("da")[0] == "Afghanistan"


def test_polish_sorts_l_with_stroke_after_every_l() -> None:
    polish = names("pl")
    assert polish.index("Luksemburg") < polish.index("Łotwa") < polish.index("Macedonia Północna")
    assert polish.index("Zimbabwe") < polish.index("Zjednoczone Emiraty Arabskie")
