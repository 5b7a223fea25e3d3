"""Templates compiled once per language: fixed words become text, other gettext calls go direct.

A page's `{{ _("Invoices") }}` costs three `Context.call` layers, a catalogue lookup and
a `Markup` at every render (Jinja's i18n alias, its newstyle wrapper, our
`web.i18n._gettext`); the portal overview has about fifty of them (bench/notes.md). A
language's own copy of the template environment (a Jinja overlay sharing loader, filters
and settings, with its own compiled templates) removes that:

- an output that is only a translated constant, `{{ _("Invoices") }}`, is replaced while
  the template compiles by the translation itself, as template text;
- every other `_()`, `gettext()`, `ngettext()` and `pgettext()` (with values, or inside an
  expression or `{% trans %}`) reads this language's catalogue with no context lookup;
- an escaped value is written as text, without the `Markup` object `escape` makes.

Both give exactly what Jinja's newstyle gettext gives in an autoescaped template: the
translation is trusted, values formatted into it are escaped, and the text is always
`%`-formatted (so `%%` is one `%`). Only HTML pages (autoescaped) are rendered this way.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping
from gettext import NullTranslations
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from jinja2.compiler import CodeGenerator, Frame
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from jinja2.nodes import Expr
from markupsafe import Markup

try:  # markupsafe's own escaping, without the Markup it wraps the result in
    from markupsafe._speedups import _escape_inner
except ImportError:  # pragma: no cover - the pure-Python build
    from markupsafe._native import _escape_inner

from web.catalogues import translations
from web.i18n import DEFAULT_LANGUAGE, Translator

# The tokens of `{{ _("text") }}` after `{{`: the call and the closing `}}`.
_CONSTANT_CALL = ("name", "lparen", "string", "rparen", "variable_end")
_GETTEXT_NAMES = frozenset({"_", "gettext"})
_LANGUAGE_ATTRIBUTE = "page_language"
_OVERLAYS: weakref.WeakKeyDictionary[jinja2.Environment, dict[str, jinja2.Environment]] = (
    weakref.WeakKeyDictionary()
)
# Each language's environment keeps its own compiled templates.
TEMPLATES_PER_LANGUAGE = 200


def _trusted(translation: str) -> Markup:
    # The catalogues are ours and may hold markup, as Jinja's newstyle gettext assumes;
    # the values `%` puts in are escaped by Markup.
    return Markup(translation)  # noqa: S704


class ConstantTranslations(Extension):
    """In a language's environment, `{{ _("text") }}` compiles to the translated text."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        language = getattr(self.environment, _LANGUAGE_ATTRIBUTE, None)
        if language is None:
            yield from stream
            return
        catalogue = translations(language)
        pending: list[Token] = []
        for token in stream:
            pending.append(token)
            if pending[0].type != "variable_begin":
                yield from pending
                pending.clear()
                continue
            position = len(pending) - 2  # index in _CONSTANT_CALL of the token just read
            if position < 0:
                continue
            expected = _CONSTANT_CALL[position]
            if token.type != expected or (position == 0 and token.value not in _GETTEXT_NAMES):
                yield from pending
                pending.clear()
            elif expected == "variable_end":
                text = _trusted(catalogue.gettext(pending[3].value)) % {}
                yield Token(pending[0].lineno, "data", str(text))
                pending.clear()
        yield from pending


def _gettext_callables(catalogue: NullTranslations) -> dict[str, Callable[..., Markup]]:
    def gettext(message: str, /, **values: Any) -> Markup:
        return _trusted(catalogue.gettext(message)) % values

    def ngettext(singular: str, plural: str, count: int, /, **values: Any) -> Markup:
        values.setdefault("num", count)
        return _trusted(catalogue.ngettext(singular, plural, count)) % values

    def pgettext(context: str, message: str, /, **values: Any) -> Markup:
        return _trusted(catalogue.pgettext(context, message)) % values

    def npgettext(context: str, singular: str, plural: str, count: int, /, **values: Any) -> Markup:
        values.setdefault("num", count)
        return _trusted(catalogue.npgettext(context, singular, plural, count)) % values

    return {
        "_": gettext,
        "gettext": gettext,
        "ngettext": ngettext,
        "pgettext": pgettext,
        "npgettext": npgettext,
    }


def escaped_text(value: object) -> str:
    """What `markupsafe.escape(value)` holds, as a plain `str` (no `Markup` made)."""
    if type(value) is str:
        return _escape_inner(value)
    html = getattr(value, "__html__", None)
    if html is not None:
        return str(html())
    return _escape_inner(str(value))


class _TextOutputGenerator(CodeGenerator):
    """Writes each escaped `{{ value }}` as text: a page's output is joined into one string,
    and a `Markup` per value (about 180 on the overview) is what escaping cost most.
    Captured output (macros, `{% set %}` blocks) is still made `Markup` by Jinja."""

    def _output_child_pre(self, node: Expr, frame: Frame, finalize: Any) -> None:
        if frame.eval_ctx.volatile or not frame.eval_ctx.autoescape:
            super()._output_child_pre(node, frame, finalize)
            return
        self.write("environment.escaped_text(")
        if finalize.src is not None:
            self.write(finalize.src)


def language_environment(environment: jinja2.Environment, language: str) -> jinja2.Environment:
    """`environment` as `language`'s pages use it (made once, then kept)."""
    overlays = _OVERLAYS.setdefault(environment, {})
    found = overlays.get(language)
    if found is None:
        found = environment.overlay(cache_size=TEMPLATES_PER_LANGUAGE)
        setattr(found, _LANGUAGE_ATTRIBUTE, language)
        found.code_generator_class = _TextOutputGenerator
        setattr(found, "escaped_text", escaped_text)  # noqa: B010 - read by compiled templates
        found.globals = {**environment.globals, **_gettext_callables(translations(language))}
        overlays[language] = found
    return found


def render_page(
    template_name: str,
    request: web.Request,
    context: Mapping[str, Any],
    *,
    i18n: Translator,
    status: int = 200,
) -> web.Response:
    """An HTML page rendered in the language of `i18n` (what the page's `_()` would use)."""
    base = request.config_dict[aiohttp_jinja2.APP_KEY]
    language = i18n.language if i18n.language else DEFAULT_LANGUAGE
    template = language_environment(base, language).get_template(template_name)
    response = web.Response(status=status, content_type="text/html", charset="utf-8")
    response.text = template.render(context)
    return response
