"""Peek at an accepted socket (MSG_PEEK) until its first bytes decide something, in a deadline.

Both the PROXY protocol reader and the ClientHello reader must look at what a
client sent before anyone consumes it, and both must survive clients that send
their bytes in pieces, send too many, go silent or hang up halfway. This is the
one loop that does it; each caller says what the bytes decide and turns the
`PeekError` subclasses into its own errors.
"""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

# Readable but nothing new (level-triggered readiness after a FIN or a partial
# segment): this long between peeks instead of spinning.
STALL_PAUSE_SECONDS = 0.005


@dataclass(frozen=True, slots=True)
class Undecided:
    """More bytes are needed; `at_least` is the least total that could decide, when known."""

    at_least: int | None = None


UNDECIDED = Undecided()


class PeekError(Exception):
    """The bytes never decided; `received` is how many had been peeked."""

    def __init__(self, message: str, *, received: int) -> None:
        super().__init__(message)
        self.received = received


class PeekFailed(PeekError):
    """The connection failed (reset, say) while peeking."""


class PeerClosed(PeekError):
    """The peer closed its side before its bytes decided anything."""


class PeekTooLarge(PeekError):
    """Undecided after `max_bytes`, or announcing more than that."""


class PeekTimeout(PeekError):
    """Undecided when the deadline passed."""


async def peek_until(
    sock: socket.socket,
    decide: Callable[[bytes], T | Undecided],
    *,
    loop: asyncio.AbstractEventLoop,
    timeout: float,  # noqa: ASYNC109 - a listener must never wait on a silent peer
    max_bytes: int,
) -> T:
    """What `decide` makes of the socket's first bytes, peeked again as more arrive.

    `decide` gets all bytes received so far (at most `max_bytes`) and returns
    its decision, or an `Undecided`; errors it raises propagate. Nothing is
    consumed: whoever takes the socket next still reads from its first byte.
    Raises a PeekError subclass on timeout, close, failure, or too many bytes.
    While waiting for a known count (`Undecided.at_least`), SO_RCVLOWAT is
    raised to it (so a partial record does not wake the loop on every
    segment) and reset to 1 before returning, so the transport that takes the
    socket sees normal readiness.
    """
    peeker = _Peeker(sock, max_bytes)
    try:
        async with asyncio.timeout(timeout):
            while True:
                decision = peeker.peek(decide)
                if not isinstance(decision, Undecided):
                    return decision
                await peeker.wait(loop)
    except TimeoutError:
        raise PeekTimeout(f"undecided after {timeout} s", received=peeker.received) from None
    finally:
        peeker.restore()


class _Peeker:
    """State of one peek: bytes seen so far and whether SO_RCVLOWAT was changed."""

    def __init__(self, sock: socket.socket, max_bytes: int) -> None:
        self.sock = sock
        self.max_bytes = max_bytes
        self.received = 0
        self.stalled = False
        self.low_water_set = False

    def peek(self, decide: Callable[[bytes], T | Undecided]) -> T | Undecided:
        try:
            data = self.sock.recv(self.max_bytes, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return UNDECIDED
        except OSError as error:
            raise PeekFailed(f"the connection failed: {error}", received=self.received) from None
        if not data:
            raise PeerClosed("the peer closed", received=self.received)
        self.stalled = len(data) <= self.received
        self.received = len(data)
        decision = decide(data)
        if not isinstance(decision, Undecided):
            return decision
        at_least = decision.at_least
        if len(data) >= self.max_bytes or (at_least is not None and at_least > self.max_bytes):
            raise PeekTooLarge(f"undecided after {self.max_bytes} bytes", received=len(data))
        if self.stalled and _peer_hung_up(self.sock):
            # A peek still returns the buffered bytes after the peer's FIN.
            raise PeerClosed("the peer closed", received=self.received)
        if at_least is not None:
            self.low_water_set = self._set_low_water(at_least) or self.low_water_set
        return decision

    async def wait(self, loop: asyncio.AbstractEventLoop) -> None:
        """Until the socket is readable (the caller's timeout bounds the wait)."""
        if self.stalled:
            # Readable but nothing new: SO_RCVLOWAT does not apply to this socket
            # type. Back off briefly instead of spinning on level-triggered readiness.
            await asyncio.sleep(STALL_PAUSE_SECONDS)
        readable: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        fd = self.sock.fileno()
        loop.add_reader(fd, wake)
        try:
            await readable
        finally:
            loop.remove_reader(fd)

    def restore(self) -> None:
        if self.low_water_set:
            self._set_low_water(1)

    def _set_low_water(self, count: int) -> bool:
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, count)
        except OSError:
            return False
        return True


def _peer_hung_up(sock: socket.socket) -> bool:
    """Whether the peer has shut down its side (Linux POLLRDHUP; elsewhere assume not)."""
    hang_up = getattr(select, "POLLRDHUP", 0)
    if not hang_up:
        return False
    poller = select.poll()
    poller.register(sock.fileno(), hang_up | select.POLLHUP)
    return bool(poller.poll(0))
