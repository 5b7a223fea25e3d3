"""Templates compiled per language render exactly what the shared templates render."""

from __future__ import annotations

import jinja2
import pytest

from web.i18n import Translator, install_gettext
from web.page_templates import language_environment

PAGE = """<h2>{{ _("Subscriptions") }}</h2>
<p title="{{ _("Remove %(card)s", card=label) }}">{{ _("Not set") }}|{{ email or _("Not set") }}</p>
<p>{{ _("Next billing date: %(date)s", date=day) }}</p>
<p>{{ ngettext("%(num)d invoice", "%(num)d invoices", count) }}</p>
<p>{% trans %}Invoices{% endtrans %} {{ name }}</p>
{%- if flag %}{{- _("Overview") -}}{% endif %}
{% include "row.html" %}
{% macro cell(value) %}<td>{{ value }}</td>{% endmacro %}{{ cell(name) }}
{% set captured %}<b>{{ name }}</b>{% endset %}{{ captured }}
{{ name|upper }} {{ count }} {{ nothing }} {{ label|length }}"""
ROW = """<td>{{ _("Pay") }}<span> {{ name }}</span></td>"""


def environment() -> jinja2.Environment:
    templates = jinja2.Environment(
        loader=jinja2.DictLoader({"page.html": PAGE, "row.html": ROW}),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    install_gettext(templates)
    return templates


@pytest.mark.parametrize("language", ["en", "fr", "de", "pl"])
def test_a_language_compiled_page_is_byte_identical_to_the_shared_one(language: str) -> None:
    shared = environment()
    context = {
        "i18n": Translator(language),
        "label": 'Visa <script>alert("x")</script> & 4242',
        "email": None,
        "day": "1 <b>May</b>",
        "count": 3,
        "name": "O'Brien & <Co>",
        "flag": True,
        "nothing": None,
    }
    expected = shared.get_template("page.html").render(context)
    compiled = language_environment(shared, language).get_template("page.html")

    assert compiled.render(context) == expected
    # Values stay escaped.
    assert "&lt;script&gt;" in expected
    assert "<script>" not in expected
    assert "O&#39;Brien &amp; &lt;Co&gt;" in expected
    assert "<td>O&#39;Brien &amp; &lt;Co&gt;</td>" in expected  # a macro's output, once
    assert "<b>O&#39;Brien &amp; &lt;Co&gt;</b>" in expected  # a captured block, once


def test_fixed_words_are_compiled_into_the_languages_template_text() -> None:
    shared = environment()
    french = language_environment(shared, "fr")
    source = french.compile(PAGE, raw=True)

    assert "Abonnements" in source  # fr for "Subscriptions": no gettext call left for it
    assert "Abonnements" not in shared.compile(PAGE, raw=True)
    assert language_environment(shared, "fr") is french  # compiled once, then kept
