"""Host canonicalisation: every spelling of a host reaches the same tenant, bad hosts get a 400."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.edge.errors import BadRequest
from gateway.edge.hosts import canonicalise_host

PORT = 8080


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alpeak.localhost", "alpeak.localhost"),
        ("ALPEAK.localhost.", "alpeak.localhost"),
        ("ALPEAK.localhost.:8080", "alpeak.localhost"),
        ("billing.alpeak.com:8080", "billing.alpeak.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example.", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
        ("ａｂｃ。example", "abc.example"),  # full-width letters and dot (UTS #46)
        ("127.0.0.1:8080", "127.0.0.1"),
        ("[::1]:8080", "[::1]"),
        ("[2001:DB8::0:1]", "[2001:db8::1]"),
        ("a" * 63 + ".example", "a" * 63 + ".example"),
    ],
)
def test_equivalent_spellings_of_a_host_reach_the_same_name(raw: str, expected: str) -> None:
    assert canonicalise_host(raw, listener_port=PORT) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("alpeak.localhost:9999", "not 8080"),
        ("alpeak.localhost:80", "not 8080"),
        ("alpeak.localhost:", "not a number"),
        ("alpeak.localhost:8o80", "not a number"),
        ("alpeak.localhost:８０８０", "not a number"),  # full-width digits are not a port
        ("user@alpeak.localhost", "user information"),
        ("alpeak localhost", "spaces"),
        ("alpeak.localhost\t", "spaces"),
        ("alpeak.localhost..", "more than one dot"),
        (".", "empty"),
        ("a..b", "empty label"),
        ("-alpeak.localhost", "letters, digits"),
        ("alpeak-.localhost", "letters, digits"),
        ("al_peak.localhost", "letters, digits"),
        ("alpeak.localhost/portal", "letters, digits"),
        ("a" * 64 + ".example", "longer than 63"),
        (".".join(["a" * 63] * 4), "longer than 253"),
        ("xn--zz.example", "xn--"),
        ("1.2.3", "IPv4"),
        ("256.1.1.1", "IPv4"),
        ("[::1", "unclosed"),
        ("[::1]x", "after the IPv6"),
        ("[fe80::1%25eth0]", "zone"),
        ("[not-ipv6]", "IPv6"),
        ("::1", "more than one port"),
    ],
)
def test_malformed_hosts_are_a_bad_request_saying_why(raw: str, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        canonicalise_host(raw, listener_port=PORT)


def test_a_host_without_port_is_accepted_on_any_listener() -> None:
    assert canonicalise_host("alpeak.localhost", listener_port=443) == "alpeak.localhost"


_host_like = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="aAbBzZ09-.:[]@ üßÄ例。ｆ%_", max_size=40),
    st.from_regex(
        r"[a-zA-Z0-9-]{1,20}(\.[a-zA-Z0-9-]{1,20}){0,3}\.?(:[0-9]{1,5})?", fullmatch=True
    ),
    st.ip_addresses().map(lambda address: f"[{address}]" if address.version == 6 else str(address)),
)


@settings(max_examples=500, deadline=None)
@given(raw=_host_like)
def test_any_host_header_is_either_canonicalised_idempotently_or_a_bad_request(raw: str) -> None:
    try:
        canonical = canonicalise_host(raw, listener_port=PORT)
    except BadRequest:
        return
    assert canonicalise_host(canonical, listener_port=PORT) == canonical
    assert canonical == canonical.lower()
    assert canonical.isascii()
    assert ":" not in canonical or canonical.startswith("[")


def test_a_host_seen_before_is_still_checked_against_the_listeners_port() -> None:
    # Canonical forms are remembered per (Host, listener port): a Host accepted on one
    # listener is not thereby accepted with a wrong port on another.
    assert canonicalise_host("Cached.Example:8080", listener_port=PORT) == "cached.example"
    assert canonicalise_host("Cached.Example:8080", listener_port=PORT) == "cached.example"
    with pytest.raises(BadRequest, match="not 8443"):
        canonicalise_host("Cached.Example:8080", listener_port=8443)


def test_a_rejected_host_is_rejected_again_every_time() -> None:
    for _ in range(2):
        with pytest.raises(BadRequest, match="user information"):
            canonicalise_host("user@cached.example", listener_port=PORT)


def test_many_distinct_hosts_are_all_canonicalised_correctly() -> None:
    # More names than the table of remembered forms holds: it is emptied, never wrong.
    for number in range(5000):
        raw = f"Site-{number}.Example"
        assert canonicalise_host(raw, listener_port=PORT) == f"site-{number}.example"
