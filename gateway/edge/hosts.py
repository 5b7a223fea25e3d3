"""Canonical request hosts: one spelling per name, so the host index is a plain dict lookup."""

from __future__ import annotations

import ipaddress
import re

from gateway.edge.errors import BadRequest
from gateway.tenants.hostnames import InvalidHostName, normalise_host_name

# A Host header is a name and a port; anything much longer is not a host at all.
MAX_RAW_LENGTH = 1024

_PORT = re.compile(r"[0-9]{1,5}")
# Canonical forms already computed, by (raw Host, listener port): a keep-alive client sends
# the same Host on every request. Only accepted values are kept, and the whole table is
# dropped when full, so a client sending random names cannot grow it.
_CACHE_ENTRIES = 4096
_canonical_cache: dict[tuple[str, int], str] = {}


def canonicalise_host(raw: str, *, listener_port: int) -> str:
    """The canonical form of a Host header value, or BadRequest saying what is wrong.

    Lower case, one trailing dot dropped, the port checked against `listener_port`
    and dropped, internationalised names as A-labels (IDNA 2008 with UTS #46
    mapping). IPv4 and bracketed IPv6 literals come back in their normal form.
    The result is itself canonical: canonicalising it again returns it unchanged.
    """
    key = (raw, listener_port)
    canonical = _canonical_cache.get(key)
    if canonical is None:
        canonical = _canonicalise(raw, listener_port)
        if len(_canonical_cache) >= _CACHE_ENTRIES:
            _canonical_cache.clear()
        _canonical_cache[key] = canonical
    return canonical


def _canonicalise(raw: str, listener_port: int) -> str:
    if not raw:
        raise BadRequest("the Host header is empty")
    if len(raw) > MAX_RAW_LENGTH:
        raise BadRequest("the Host header is too long")
    if not raw.isprintable() or any(character.isspace() for character in raw):
        raise BadRequest("the Host header contains spaces or control characters")
    if "@" in raw:
        raise BadRequest("the Host header must not contain user information")
    if raw.startswith("["):
        literal, port = _split_bracketed(raw)
        _check_port(port, listener_port)
        return _canonical_ipv6(literal)
    name, port = _split_port(raw)
    _check_port(port, listener_port)
    return _canonical_name(name)


def _split_bracketed(raw: str) -> tuple[str, str | None]:
    end = raw.find("]")
    if end < 0:
        raise BadRequest("the Host header has an unclosed IPv6 bracket")
    rest = raw[end + 1 :]
    if rest and not rest.startswith(":"):
        raise BadRequest("the Host header has text after the IPv6 address")
    return raw[1:end], (rest[1:] if rest else None)


def _split_port(raw: str) -> tuple[str, str | None]:
    if raw.count(":") > 1:
        raise BadRequest("the Host header has more than one port (IPv6 needs brackets)")
    name, colon, port = raw.partition(":")
    return name, (port if colon else None)


def _check_port(port: str | None, listener_port: int) -> None:
    if port is None:
        return
    if not _PORT.fullmatch(port):
        raise BadRequest("the port in the Host header is not a number")
    if int(port) != listener_port:
        raise BadRequest(f"the port in the Host header is not {listener_port}")


def _canonical_ipv6(literal: str) -> str:
    # Zone identifiers (RFC 6874) only make sense on the client's own link.
    if "%" in literal:
        raise BadRequest("the Host header has an IPv6 zone identifier")
    try:
        address = ipaddress.IPv6Address(literal)
    except ValueError:
        raise BadRequest("the Host header has a malformed IPv6 address") from None
    return f"[{address.compressed}]"


def _canonical_name(name: str) -> str:
    try:
        canonical = normalise_host_name(name)
    except InvalidHostName as error:
        raise BadRequest(f"the Host header is not a host name: {error}") from None
    if canonical.rsplit(".", 1)[-1].isdigit():
        return _canonical_ipv4(canonical)
    return canonical


def _canonical_ipv4(text: str) -> str:
    # An all-digit last label is never a DNS name (RFC 3696 2): it must be a dotted quad.
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise BadRequest("the Host header has a malformed IPv4 address") from None
