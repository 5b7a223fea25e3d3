"""Which IP addresses are on the public internet, and the numeric host forms that hide them.

Outbound requests to URLs a tenant chose (its webhook endpoint) may only reach
public addresses: otherwise a tenant could make the gateway call its own ops
port, a cloud metadata service (169.254.169.254) or hosts on the private
network behind it (server-side request forgery, OWASP SSRF prevention sheet).
Pure functions, no I/O: the save-time check and the connect-time check of
`gateway.jobs.webhook_client` share them.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 6598 shared address space (carrier-grade NAT): not private, not public either.
_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
# RFC 6052 NAT64 well-known prefix: the last 32 bits are an IPv4 address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def parse_address(text: str) -> IPAddress | None:
    """`text` as an IP address (the brackets of an IPv6 URL host allowed), or None."""
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def numeric_host_address(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a non-dotted-quad numeric host stands for, or None.

    `2130706433`, `0x7f.1`, `017700000001` and `127.1` all reach 127.0.0.1
    through inet_aton, which resolvers and HTTP clients use for such names.
    A plain dotted quad (`127.0.0.1`) is not "hidden" and returns None here.
    """
    if parse_address(host) is not None:
        return None
    try:
        packed = socket.inet_aton(host)
    except (OSError, ValueError):
        return None
    return ipaddress.IPv4Address(packed)


def non_public_reason(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast address (e.g. "a loopback address"), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = non_public_reason(embedded)
            return None if reason is None else f"{reason} (embedded in an IPv6 address)"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE:
        return "a carrier-grade NAT (shared) address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def is_loopback(address: IPAddress) -> bool:
    """Whether `address` is 127.0.0.0/8 or ::1 (also written as an IPv4-mapped IPv6 address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why an outbound connection to `address` is refused, or None when it may go there."""
    if allow_loopback and is_loopback(address):
        return None
    reason = non_public_reason(address)
    if reason is None:
        return None
    return f"{address} is {reason}; only public internet addresses are allowed"
