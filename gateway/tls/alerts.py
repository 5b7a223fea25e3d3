"""Refusing a TLS handshake before it starts: one fatal alert record, then close.

When no certificate is served for a ClientHello's name, the listener answers
with a plaintext fatal `unrecognized_name` alert (RFC 6066 section 3, RFC 8446
section 6.2) instead of a bare close, so the client reports why. The peeked
ClientHello is read off the socket first: closing a socket with unread bytes
makes the kernel send a reset, which can overtake the alert.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

ALERT_RECORD = 21
FATAL = 2
# RFC 8446 section 5.1: legacy_record_version 0x0303 for everything but the first ClientHello.
RECORD_VERSION = b"\x03\x03"
DISCARD_LIMIT = 1 << 16


def alert_record(description: ssl.AlertDescription) -> bytes:
    """A plaintext fatal alert record with `description`."""
    return bytes([ALERT_RECORD]) + RECORD_VERSION + b"\x00\x02" + bytes([FATAL, description.value])


async def refuse_handshake(
    sock: socket.socket,
    *,
    loop: asyncio.AbstractEventLoop,
    description: ssl.AlertDescription = ssl.AlertDescription.ALERT_DESCRIPTION_UNRECOGNIZED_NAME,
    linger: float = 1.0,
) -> None:
    """Send a fatal alert to a client whose ClientHello was peeked, and close the socket.

    Waits at most `linger` seconds for the client to close its side after the
    alert (clients do at once), so the close is a clean FIN. Never raises: a
    client that already left is simply closed.
    """
    try:
        _discard_arrived(sock)
        await asyncio.wait_for(loop.sock_sendall(sock, alert_record(description)), linger)
        sock.shutdown(socket.SHUT_WR)
        await asyncio.wait_for(_discard_until_closed(sock, loop), linger)
    except (OSError, TimeoutError):
        pass
    finally:
        sock.close()


def _discard_arrived(sock: socket.socket) -> None:
    """Read what has arrived (the ClientHello, perhaps early data) without waiting."""
    discarded = 0
    while discarded < DISCARD_LIMIT:
        try:
            chunk = sock.recv(DISCARD_LIMIT)
        except (BlockingIOError, InterruptedError):
            return
        if not chunk:
            return
        discarded += len(chunk)


async def _discard_until_closed(sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
    discarded = 0
    while discarded < DISCARD_LIMIT:
        chunk = await loop.sock_recv(sock, DISCARD_LIMIT)
        if not chunk:
            return
        discarded += len(chunk)
