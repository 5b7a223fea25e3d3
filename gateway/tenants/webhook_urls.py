"""What a tenant's webhook URL may be: https, no credentials, never a non-public address.

Checked when the URL is saved (API and settings page) and again before every
delivery; the delivery also checks the addresses its connection really goes
to (`gateway.jobs.webhook_client`), so a name that resolves to a private address
later (DNS rebinding) still fails there.
"""

from __future__ import annotations

import urllib.parse

from gateway.tenants.public_addresses import numeric_host_address, parse_address, refusal

MAX_URL_LENGTH = 2000


class WebhookUrlRefused(ValueError):
    """The URL may not receive webhooks; the message says why, for the tenant to read."""


def check_webhook_url(url: str, *, allow_loopback: bool = False) -> str:
    """`url` unchanged when events may be sent to it; else raises WebhookUrlRefused.

    `allow_loopback` (GATEWAY_WEBHOOK_ALLOW_LOOPBACK, for tests) also accepts
    plain http and loopback hosts (127.0.0.0/8, ::1, localhost).
    """
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlRefused(f"must have at most {MAX_URL_LENGTH} characters")
    if any(ord(character) < 0x21 or ord(character) == 0x7F for character in url):
        raise WebhookUrlRefused("must not contain spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        raise WebhookUrlRefused("must be a URL such as https://example.com/webhooks") from None
    schemes = ("https", "http") if allow_loopback else ("https",)
    if parts.scheme.lower() not in schemes:
        raise WebhookUrlRefused("must be an https:// URL")
    if "@" in parts.netloc:
        raise WebhookUrlRefused("must not contain a user name or password")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookUrlRefused("must name a host, as in https://example.com/webhooks")
    refused = host_refusal(host, allow_loopback=allow_loopback)
    if refused is not None:
        raise WebhookUrlRefused(refused)
    return url


def host_refusal(host: str, *, allow_loopback: bool = False) -> str | None:
    """Why requests may not go to `host` (a URL's host name or address), or None."""
    host = host.lower().rstrip(".")
    numeric = numeric_host_address(host)
    if numeric is not None:
        return (
            f"must not use the numeric host form {host!r} (it means {numeric}); "
            "write a host name or a dotted address"
        )
    address = parse_address(host)
    if address is not None:
        return refusal(address, allow_loopback=allow_loopback)
    # RFC 6761 6.3: localhost and its subdomains are the loopback interface.
    if (host == "localhost" or host.endswith(".localhost")) and not allow_loopback:
        return f"{host} is the loopback interface; only public internet addresses are allowed"
    return None
