"""The gettext catalogues of the `messages` domain, one per language, loaded once per process.

`web/locale/<language>/LC_MESSAGES/messages.po` is the source, edited by people and
kept in step with the code by `pybabel extract`/`update` (babel.cfg; README "Translations").
`pybabel compile` turns each into `messages.mo` at install (the Makefile's venv step) and
in the image build (Dockerfile). A `.mo` that is missing or older than its `.po` (a fresh
clone, a `.po` just edited) is not trusted: the `.po` is then compiled in memory, so a
page never shows stale words and the package directory is never written at run time.
Fuzzy entries are left out either way, as `pybabel compile` leaves them out.
"""

from __future__ import annotations

import functools
import io
from gettext import GNUTranslations
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "messages"
LOCALE_DIRECTORY = Path(__file__).parent / "locale"
# The languages the pages speak; each has a catalogue under LOCALE_DIRECTORY.
LANGUAGES = ("en", "fr")


def catalogue_path(language: str, suffix: str = ".po") -> Path:
    """Where the catalogue of `language` lives (`.po` source or compiled `.mo`)."""
    return LOCALE_DIRECTORY / language / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


def compiled_is_fresh(language: str) -> bool:
    """The `.mo` of `language` exists and is not older than its `.po`."""
    source, compiled = catalogue_path(language), catalogue_path(language, ".mo")
    return compiled.exists() and compiled.stat().st_mtime >= source.stat().st_mtime


def compile_in_memory(language: str) -> bytes:
    """The `.mo` bytes of `language`'s `.po`, as `pybabel compile` writes them."""
    with catalogue_path(language).open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


@functools.cache
def translations(language: str) -> GNUTranslations:
    """The compiled catalogue of `language` (one of LANGUAGES); KeyError for another."""
    if language not in LANGUAGES:
        raise KeyError(language)
    if compiled_is_fresh(language):
        data = catalogue_path(language, ".mo").read_bytes()
    else:
        data = compile_in_memory(language)
    return GNUTranslations(io.BytesIO(data))
