"""The gettext catalogues of the `messages` domain, one per language, loaded once per process.

`web/locale/<language>/LC_MESSAGES/messages.po` is the source, edited by people and
kept in step with the code by `pybabel extract`/`update` (babel.cfg; README "Translations").
`pybabel compile` turns each into `messages.mo` at install (the Makefile's venv step) and
in the image build (Dockerfile). A `.mo` that is missing or older than its `.po` (a fresh
clone, a `.po` just edited) is not trusted: the `.po` is then compiled in memory, so a
page never shows stale words and the package directory is never written at run time.
Fuzzy entries are left out either way, as `pybabel compile` leaves them out.

The languages the product offers (pages, the billing form's language menu) are computed
here only: English, the language of the messages themselves, and every language whose
catalogue translates each message of the English one, none fuzzy. A catalogue that is
half done, or that misses messages added since it was last translated, is not offered.
"""

from __future__ import annotations

import functools
import io
from gettext import GNUTranslations
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "messages"
LOCALE_DIRECTORY = Path(__file__).parent / "locale"
# The messages are English: English is always offered, whatever its catalogue holds.
SOURCE_LANGUAGE = "en"

MessageKey = tuple[str | None, str]


def catalogue_path(
    language: str, suffix: str = ".po", *, directory: Path = LOCALE_DIRECTORY
) -> Path:
    """Where the catalogue of `language` lives (`.po` source or compiled `.mo`)."""
    return directory / language / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


def read_catalogue(language: str, *, directory: Path = LOCALE_DIRECTORY) -> Catalog:
    """The `.po` catalogue of `language`, as people edit it."""
    with catalogue_path(language, directory=directory).open("rb") as source:
        return read_po(source, locale=language, domain=DOMAIN)


def message_key(message: Message) -> MessageKey:
    """A message's identity in every catalogue: its context and its (singular) English text."""
    identifier = message.id[0] if isinstance(message.id, tuple) else message.id
    return message.context, str(identifier)


def is_translated(message: Message, plural_forms: int) -> bool:
    """`message` has every form its language needs, none empty, and is not fuzzy."""
    if message.fuzzy:
        return False
    if isinstance(message.id, tuple):
        forms = message.string if isinstance(message.string, tuple | list) else ()
        return len(forms) == plural_forms and all(forms)
    return bool(message.string)


def untranslated(catalogue: Catalog, reference: Catalog) -> set[MessageKey]:
    """The messages of `reference` that `catalogue` lacks, leaves empty or marks fuzzy."""
    done = {
        message_key(message)
        for message in catalogue
        if message.id and is_translated(message, catalogue.num_plurals)
    }
    return {message_key(message) for message in reference if message.id} - done


def complete_languages(directory: Path = LOCALE_DIRECTORY) -> tuple[str, ...]:
    """English, then every language under `directory` whose catalogue is complete, by code."""
    reference = read_catalogue(SOURCE_LANGUAGE, directory=directory)
    others = sorted(
        path.parents[1].name
        for path in directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")
        if path.parents[1].name != SOURCE_LANGUAGE
    )
    complete = [
        language
        for language in others
        if not untranslated(read_catalogue(language, directory=directory), reference)
    ]
    return (SOURCE_LANGUAGE, *complete)


@functools.cache
def offered_languages() -> tuple[str, ...]:
    """The languages the pages speak and the billing form offers (read once per process)."""
    return complete_languages(LOCALE_DIRECTORY)


def compiled_is_fresh(language: str) -> bool:
    """The `.mo` of `language` exists and is not older than its `.po`."""
    source, compiled = catalogue_path(language), catalogue_path(language, ".mo")
    return compiled.exists() and compiled.stat().st_mtime >= source.stat().st_mtime


def compile_in_memory(language: str) -> bytes:
    """The `.mo` bytes of `language`'s `.po`, as `pybabel compile` writes them."""
    buffer = io.BytesIO()
    write_mo(buffer, read_catalogue(language), use_fuzzy=False)
    return buffer.getvalue()


@functools.cache
def translations(language: str) -> GNUTranslations:
    """The compiled catalogue of `language` (one of offered_languages()); KeyError for another."""
    if language not in offered_languages():
        raise KeyError(language)
    if compiled_is_fresh(language):
        data = catalogue_path(language, ".mo").read_bytes()
    else:
        data = compile_in_memory(language)
    return GNUTranslations(io.BytesIO(data))
