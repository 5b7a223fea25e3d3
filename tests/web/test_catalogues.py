"""The gettext catalogues match the code: every message it uses is translated, none is stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from web.catalogues import LANGUAGES, catalogue_path

ROOT = Path(__file__).resolve().parents[2]
Key = tuple[str | None, str]


def _extracted(output: Path) -> Catalog:
    """What `pybabel extract -F babel.cfg` finds in the code and templates today."""
    pybabel = Path(sys.executable).with_name("pybabel")
    command: list[str | Path] = [pybabel, "extract", "-F", "babel.cfg", "-o", output, "."]
    subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
    with output.open("rb") as source:
        catalog = read_po(source)
    assert len(catalog) > 100, "extraction found almost nothing: babel.cfg is wrong"
    return catalog


def _keys(catalog: Catalog) -> set[Key]:
    return {(message.context, str(message.id)) for message in catalog if message.id}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return _extracted(tmp_path_factory.mktemp("catalogues") / "messages.pot")


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_catalogue_translates_every_message_the_code_uses(
    extracted: Catalog, language: str
) -> None:
    with catalogue_path(language).open("rb") as source:
        catalogue = read_po(source, locale=language)
    translated = {
        (message.context, str(message.id))
        for message in catalogue
        if message.id
        and not message.fuzzy
        and all(message.string if isinstance(message.string, tuple) else [message.string])
    }
    missing = _keys(extracted) - translated
    assert not missing, f"{language}: untranslated or fuzzy (run pybabel update): {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_catalogue_keeps_no_message_the_code_no_longer_uses(
    extracted: Catalog, language: str
) -> None:
    with catalogue_path(language).open("rb") as source:
        catalogue = read_po(source, locale=language)
    stale = _keys(catalogue) - _keys(extracted)
    assert not stale, f"{language}: obsolete messages (remove them): {stale}"
    assert not catalogue.obsolete, f"{language}: #~ obsolete entries left in the file"


def test_french_keeps_the_placeholders_of_each_message() -> None:
    with catalogue_path("fr").open("rb") as source:
        catalogue = read_po(source, locale="fr")
    for message in catalogue:
        if message.id:
            assert not list(message.check(catalogue)), message.id
