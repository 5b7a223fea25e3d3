"""Graceful stop: a stopping gateway refuses new connections but finishes what it started."""

from __future__ import annotations

import asyncio

import pytest

from gateway.settings import Settings
from tests.conftest import eventually
from tests.gateway.https_gateway import read_answer
from tests.gateway.test_limits import (
    connect,
    decoded,
    post_bytes,
    probing_gateway,
    read_until_closed,
)


async def refuses_connections(port: int) -> bool:
    try:
        _, writer = await connect(port)
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:  # reached the listening socket as it closed: try again
        return False
    writer.close()
    return False


async def test_stop_during_a_slow_request_finishes_it_refuses_new_connections_and_returns(
    settings: Settings,
) -> None:
    async with probing_gateway(settings, shutdown_timeout=20.0) as served:
        http_port, https_port = served.settings.http_port, served.settings.https_port
        reader, writer = await connect(http_port)
        writer.write(post_bytes(b"order", path="/healthz?sleep=3"))
        slow = asyncio.ensure_future(read_answer(reader))
        await asyncio.wait_for(served.handler_started.wait(), 30)

        served.stop.set()  # what SIGTERM does
        refused_http = await eventually(lambda: refuses_connections(http_port), bool)
        refused_https = await eventually(lambda: refuses_connections(https_port), bool)
        still_running = not slow.done()

        answer = await slow
        writer.close()
        await asyncio.wait_for(served.task, 30)
    assert refused_http
    assert refused_https
    assert still_running
    assert answer.status == 200
    assert decoded(answer)["bytes"] == len(b"order")


# A request cut at the deadline leaves its cancelled handler's transport to the garbage
# collector (aiohttp closes the server, not each cut connection); the process exits next.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_requests_outlasting_the_shutdown_deadline_are_cut_and_the_gateway_still_stops(
    settings: Settings,
) -> None:
    async with probing_gateway(settings, shutdown_timeout=1.0) as served:
        reader, writer = await connect(served.settings.http_port)
        writer.write(post_bytes(b"order", path="/healthz?sleep=60"))
        await asyncio.wait_for(served.handler_started.wait(), 30)
        loop = asyncio.get_running_loop()
        began = loop.time()
        served.stop.set()
        await asyncio.wait_for(served.task, 30)
        stopped_after = loop.time() - began
        sent_back = await read_until_closed(reader, 30)
        writer.close()
    assert stopped_after < 10
    assert b"200 OK" not in sent_back


async def test_idle_keepalive_connections_are_closed_at_once_on_stop(settings: Settings) -> None:
    async with probing_gateway(settings, keepalive_timeout=60.0, shutdown_timeout=30.0) as served:
        reader, writer = await connect(served.settings.http_port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert (await read_answer(reader)).status == 200
        loop = asyncio.get_running_loop()
        began = loop.time()
        served.stop.set()
        rest = await read_until_closed(reader, 30)
        await asyncio.wait_for(served.task, 30)
        stopped_after = loop.time() - began
        writer.close()
    assert rest == b""
    assert stopped_after < 10
