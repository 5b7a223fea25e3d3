"""The SNI a TLS connection was opened with, readable by HTTP handlers after the handshake.

Python's server-side `SSLObject.server_hostname` stays None (it holds the name
a *client* asked to verify), with the default event loop and with uvloop
alike. `remember_server_name(context)` makes every connection of `context`
record the name its client sent, through the documented `sni_callback` and
`sslobject_class` hooks; `server_name_of(ssl_object)` reads it back, for the
Host/SNI check (RFC 9110 section 7.4: a mismatch is answered with 421).
"""

from __future__ import annotations

import ssl

from gateway.tenants.hostnames import InvalidHostName, normalise_host_name


class ServerNameSSLObject(ssl.SSLObject):
    """An SSLObject that keeps the server name its client sent (None without SNI)."""

    requested_server_name: str | None = None


def _record(ssl_object: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
    if isinstance(ssl_object, ServerNameSSLObject):
        ssl_object.requested_server_name = _canonical(name) if name else None


def _canonical(name: str) -> str:
    # The spelling Host headers are compared in (`gateway.tenants.hostnames`); a name that is no
    # host name is kept lower-cased so it can never equal a canonical Host.
    try:
        return normalise_host_name(name)
    except InvalidHostName:
        return name.lower()


def remember_server_name(context: ssl.SSLContext) -> ssl.SSLContext:
    """Make connections of `context` remember their SNI; returns `context`."""
    context.sslobject_class = ServerNameSSLObject
    context.sni_callback = _record
    return context


def server_name_of(ssl_object: object) -> str | None:
    """The SNI of a connection whose context went through `remember_server_name`, else None."""
    if isinstance(ssl_object, ServerNameSSLObject):
        return ssl_object.requested_server_name
    return None
