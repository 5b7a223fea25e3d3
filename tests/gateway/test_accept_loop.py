"""The accept loop both listeners share: a bound on connections being set up, and a listener
that outlives a full file descriptor table and a connection whose setup broke."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from gateway.network.accept_loop import AcceptLoop
from tests.conftest import eventually


class HeldConnections(AcceptLoop):
    """Holds every accepted connection until `release` is set; a peer sending "fail" breaks."""

    def __init__(self, *, max_pending: int = 1024) -> None:
        super().__init__(host="127.0.0.1", port=0, name="HTTP", max_pending=max_pending)
        self.release = asyncio.Event()

    async def _handle(
        self, sock: socket.socket, peer: object, loop: asyncio.AbstractEventLoop
    ) -> None:
        try:
            await self.release.wait()
            if await loop.sock_recv(sock, 4) == b"fail":
                raise RuntimeError("a bug in connection setup")
        finally:
            sock.close()


@contextlib.asynccontextmanager
async def started(listener: HeldConnections) -> AsyncIterator[HeldConnections]:
    await listener.start()
    try:
        yield listener
    finally:
        listener.release.set()
        await listener.close()


async def accepted(listener: AcceptLoop) -> int:
    return listener.accepted


async def test_connections_beyond_max_pending_wait_in_the_backlog_until_a_slot_frees() -> None:
    async with started(HeldConnections(max_pending=1)) as listener:
        clients = [await asyncio.open_connection(*listener.address) for _ in range(2)]
        assert await eventually(lambda: accepted(listener), lambda n: n >= 1) == 1
        await asyncio.sleep(0.3)
        assert listener.accepted == 1  # the second waits in the kernel's backlog
        listener.release.set()
        for _, writer in clients:
            writer.write(b"done")
        assert await eventually(lambda: accepted(listener), lambda n: n >= 2) == 2
        for _, writer in clients:
            writer.close()


@contextlib.contextmanager
def no_free_file_descriptors() -> Iterator[None]:
    """Every new file descriptor fails with EMFILE until the block ends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest_free = os.dup(0)
    os.close(lowest_free)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_a_full_descriptor_table_is_logged_and_the_connection_accepted_once_it_drains(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with started(HeldConnections()) as listener:
        client = socket.socket()
        try:
            with no_free_file_descriptors():
                client.connect(listener.address)  # completed by the kernel, in the backlog
                await asyncio.sleep(0.3)
                assert listener.accepted == 0
            assert any("HTTP accept failed" in record.getMessage() for record in caplog.records)
            assert await eventually(lambda: accepted(listener), lambda n: n >= 1) == 1
        finally:
            client.close()


async def test_a_connection_whose_setup_broke_is_logged_and_the_next_one_is_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with started(HeldConnections(max_pending=1)) as listener:
        listener.release.set()
        _, broken = await asyncio.open_connection(*listener.address)
        broken.write(b"fail")
        await eventually(lambda: accepted(listener), lambda n: n >= 1)
        _, fine = await asyncio.open_connection(*listener.address)
        fine.write(b"done")
        # max_pending=1: the second is only accepted once the broken one gave its slot back.
        assert await eventually(lambda: accepted(listener), lambda n: n >= 2) == 2
        broken.close()
        fine.close()
    assert any(
        record.getMessage() == "HTTP connection setup failed" and record.exc_info
        for record in caplog.records
    )
