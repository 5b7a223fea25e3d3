"""One key per name: a claimed domain, the Host a browser sends for it and its SNI agree.

Browsers turn a typed name into A-labels with UTS #46 (non-transitional, so
`ß` stays `ß` and becomes `xn--strae-oqa`), send that in the Host header
(sometimes with a trailing dot or the port) and in the SNI (never with the
trailing dot, RFC 6066 section 3).
"""

from __future__ import annotations

import idna
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.edge.errors import BadRequest
from gateway.edge.hosts import canonicalise_host
from gateway.settings import SettingsError, load_settings
from gateway.tenants.domains import normalise_domain
from gateway.tenants.errors import InvalidTenantInput
from gateway.tenants.hostnames import InvalidHostName, normalise_host_name
from gateway.tls.certificates import canonical_server_name

PORT = 8443
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ßüöäéçÜÖÄÉ"


def browser_a_labels(typed: str) -> str:
    """What a browser puts on the wire for a typed name (WHATWG URL: UTS #46, A-labels)."""
    return idna.encode(typed.rstrip("."), uts46=True, transitional=False).decode("ascii")


def keys_of(typed: str, *, host_suffix: str = "", sni_upper: bool = False) -> tuple[str, ...]:
    claimed = normalise_domain(typed, base_domain="localhost")
    wire = browser_a_labels(typed)
    host = canonicalise_host(wire + host_suffix, listener_port=PORT)
    sni = canonical_server_name(wire.upper() if sni_upper else wire)
    return claimed, host, sni or ""


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("straße.example", "xn--strae-oqa.example"),
        ("Straße.Example.", "xn--strae-oqa.example"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example.", "xn--bcher-kva.example"),
        ("Billing.Alpeak.COM.", "billing.alpeak.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_a_claimed_name_its_host_and_its_sni_share_one_key(typed: str, key: str) -> None:
    assert keys_of(typed) == (key, key, key)
    assert keys_of(typed, host_suffix=".:8443", sni_upper=True) == (key, key, key)
    assert normalise_host_name(key) == key


def test_straße_is_not_strasse() -> None:
    # Python's "idna" codec (IDNA 2003) maps ß to ss; IDNA 2008 keeps it.
    assert "straße.example".encode("idna") == b"strasse.example"
    assert normalise_domain("straße.example", base_domain="localhost") != "strasse.example"


labels = st.text(alphabet=LETTERS, min_size=1, max_size=20)


@given(
    names=st.lists(labels, min_size=2, max_size=4),
    trailing_dot=st.booleans(),
    host_dot=st.booleans(),
    with_port=st.booleans(),
    upper=st.booleans(),
)
def test_any_claimable_name_has_one_key_for_claim_host_and_sni(
    names: list[str], trailing_dot: bool, host_dot: bool, with_port: bool, upper: bool
) -> None:
    typed = ".".join(names) + ("." if trailing_dot else "")
    try:
        claimed = normalise_domain(typed, base_domain="localhost")
    except InvalidTenantInput:
        assume(False)
        return
    suffix = ("." if host_dot else "") + (f":{PORT}" if with_port else "")
    assert keys_of(typed, host_suffix=suffix, sni_upper=upper) == (claimed, claimed, claimed)
    assert normalise_host_name(claimed) == claimed


@given(st.text(max_size=80))
def test_the_normaliser_never_fails_but_with_its_own_error(text: str) -> None:
    try:
        key = normalise_host_name(text)
    except InvalidHostName:
        return
    assert normalise_host_name(key) == key
    assert key.isascii()
    assert key == key.lower()
    assert len(key) <= 253


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("a..b", "empty label"),
        ("a" * 64 + ".example", "longer than 63"),
        (".".join(["a" * 63] * 4), "longer than 253"),
        ("xn--zz.example", "xn--"),
        ("bad_name.example", "letters, digits"),
        ("example..", "more than one dot"),
    ],
)
def test_bad_names_are_refused_saying_why_everywhere(raw: str, reason: str) -> None:
    with pytest.raises(InvalidHostName, match=reason):
        normalise_host_name(raw)
    with pytest.raises(BadRequest, match=reason):
        canonicalise_host(raw, listener_port=PORT)
    with pytest.raises(InvalidTenantInput):
        normalise_domain(raw, base_domain="localhost")
    assert canonical_server_name(raw) is None


def test_the_base_domain_setting_uses_the_same_spelling() -> None:
    settings = load_settings(environ={"GATEWAY_BASE_DOMAIN": "Bücher.Example."})
    assert settings.base_domain == "xn--bcher-kva.example"
    with pytest.raises(SettingsError, match="GATEWAY_BASE_DOMAIN"):
        load_settings(environ={"GATEWAY_BASE_DOMAIN": "bad_name.example"})
