"""Deadlines and limits on the served gateway: slow and greedy clients cannot hold it.

The real `serve()` runs in this loop on free ports with short deadlines; raw
sockets play slowloris, slow uploads, idle keep-alive and connection floods
while a well-behaved client keeps getting answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.server import serve
from gateway.settings import Settings
from tests.conftest import eventually
from tests.gateway.https_gateway import (
    Answer,
    gateway_app,
    http_get,
    read_answer,
    with_free_ports,
)

START_TIMEOUT = 60.0
# Deadlines in these tests are ~1 s; assertions allow generous slack for a loaded machine.
SLACK = 5.0


@dataclass
class Served:
    """A gateway served in this loop; `stop` ends it, `task` is `serve()` itself."""

    settings: Settings
    stop: asyncio.Event
    task: asyncio.Task[None]
    handler_started: asyncio.Event


async def probe(request: web.Request) -> web.Response:
    """POST /healthz (test only): reads the body, optionally sleeps, reports what it saw."""
    body = await request.read()
    request.config_dict[PROBE_STARTED].set()
    delay = float(request.query.get("sleep", "0"))
    if delay:
        await asyncio.sleep(delay)
    return web.json_response({"remote": request.remote, "bytes": len(body), "pid": os.getpid()})


PROBE_STARTED = web.AppKey("probe_started", asyncio.Event)


@contextlib.asynccontextmanager
async def probing_gateway(settings: Settings, **changes: Any) -> AsyncIterator[Served]:
    """`serve()` on free ports with `changes`, plus the POST /healthz probe route."""
    settings = with_free_ports(settings, **changes)
    app = gateway_app(settings)
    started = asyncio.Event()
    app[PROBE_STARTED] = started
    app.router.add_post("/healthz", probe)
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[list[str]] = loop.create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(settings, ready=ready.set_result, stop=stop, app=app), name="gateway"
    )
    try:
        waiting: set[asyncio.Future[Any]] = {task, ready}
        done, _ = await asyncio.wait(
            waiting, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()
        assert ready.done(), "the gateway did not start"
        yield Served(settings, stop, task, started)
    finally:
        stop.set()
        await asyncio.wait_for(task, START_TIMEOUT)


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)


async def read_until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """What the server sent before closing (a reset counts as a close)."""
    try:
        return await asyncio.wait_for(reader.read(), within)
    except ConnectionResetError:
        return b""


def post_bytes(body: bytes, *, path: str = "/healthz", host: str = "localhost") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def post(port: int, body: bytes, *, path: str = "/healthz") -> Answer:
    reader, writer = await connect(port)
    try:
        writer.write(post_bytes(body, path=path))
        await writer.drain()
        return await read_answer(reader)
    finally:
        writer.close()


def decoded(answer: Answer) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(answer.body)
    return value


async def keep_answering(port: int, until: asyncio.Future[Any]) -> list[int]:
    """Statuses of fresh well-behaved requests made one after another until `until` is done."""
    statuses: list[int] = []
    while not until.done():
        statuses.append((await http_get(port, "/healthz", "localhost")).status)
        await asyncio.sleep(0.1)
    return statuses


async def trickle(writer: asyncio.StreamWriter, chunk: bytes, every: float) -> None:
    with contextlib.suppress(ConnectionError):
        while True:
            await asyncio.sleep(every)
            writer.write(chunk)
            await writer.drain()


async def test_slowloris_trickling_headers_is_closed_at_the_head_deadline_while_others_are_served(
    settings: Settings,
) -> None:
    async with probing_gateway(settings, head_timeout=1.0) as served:
        port = served.settings.http_port
        reader, writer = await connect(port)
        loop = asyncio.get_running_loop()
        began = loop.time()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        dripping = asyncio.create_task(trickle(writer, b"X-Slow: 1\r\n", 0.3))
        closed = asyncio.ensure_future(read_until_closed(reader, 30))
        statuses = await keep_answering(port, closed)
        sent_back = await closed
        lasted = loop.time() - began
        dripping.cancel()
        writer.close()
    assert 0.9 <= lasted < 1.0 + SLACK
    assert sent_back == b"" or sent_back.startswith(b"HTTP/1.1 408 ")
    assert statuses
    assert set(statuses) == {200}


async def test_silent_connection_is_closed_at_the_head_deadline(settings: Settings) -> None:
    async with probing_gateway(settings, head_timeout=1.0) as served:
        reader, writer = await connect(served.settings.http_port)
        loop = asyncio.get_running_loop()
        began = loop.time()
        sent_back = await read_until_closed(reader, 30)
        lasted = loop.time() - began
        writer.close()
    assert 0.9 <= lasted < 1.0 + SLACK
    assert sent_back.startswith(b"HTTP/1.1 408 Request Timeout")


async def test_slow_body_is_cut_at_the_body_deadline_while_full_bodies_are_answered(
    settings: Settings,
) -> None:
    async with probing_gateway(settings, head_timeout=1.0, body_timeout=1.0) as served:
        port = served.settings.http_port
        reader, writer = await connect(port)
        loop = asyncio.get_running_loop()
        began = loop.time()
        whole = post_bytes(b"x" * 100_000)
        writer.write(whole[:200])
        dripping = asyncio.create_task(trickle(writer, b"x" * 50, 0.2))
        closed = asyncio.ensure_future(read_until_closed(reader, 30))
        answers: list[Answer] = []
        while not closed.done():
            answers.append(await post(port, b"y" * 50_000))
        sent_back = await closed
        lasted = loop.time() - began
        dripping.cancel()
        writer.close()
    assert 0.9 <= lasted < 1.0 + SLACK
    assert b"200 OK" not in sent_back
    assert answers
    assert {answer.status for answer in answers} == {200}
    assert {decoded(answer)["bytes"] for answer in answers} == {50_000}


async def test_keepalive_connection_idle_longer_than_the_head_deadline_still_gets_its_next_answer(
    settings: Settings,
) -> None:
    async with probing_gateway(settings, head_timeout=1.0, keepalive_timeout=15.0) as served:
        reader, writer = await connect(served.settings.http_port)
        request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
        writer.write(request)
        first = await read_answer(reader)
        await asyncio.sleep(2.0)  # idle, not slow: the head deadline only runs once bytes come
        writer.write(request)
        second = await read_answer(reader)
        writer.close()
    assert (first.status, second.status) == (200, 200)


async def test_idle_keepalive_connection_is_closed_after_the_keepalive_timeout(
    settings: Settings,
) -> None:
    async with probing_gateway(settings, keepalive_timeout=1.0) as served:
        reader, writer = await connect(served.settings.http_port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = await read_answer(reader)
        loop = asyncio.get_running_loop()
        began = loop.time()
        rest = await read_until_closed(reader, 30)
        lasted = loop.time() - began
        writer.close()
    assert answer.status == 200
    assert rest == b""
    assert lasted < 1.0 + SLACK


async def test_connections_beyond_the_worker_limit_are_closed_and_slots_free_up(
    settings: Settings,
) -> None:
    async with probing_gateway(settings, max_connections=2, head_timeout=60.0) as served:
        port = served.settings.http_port
        held = [await connect(port) for _ in range(2)]
        for reader, writer in held:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert (await read_answer(reader)).status == 200
        reader, writer = await connect(port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        refused = await read_until_closed(reader, 30)
        writer.close()
        held[0][1].close()
        # The server notices that close asynchronously; then a new client gets in again.
        answered = await eventually(lambda: _answers(port), lambda ok: ok)
        for _, other in held[1:]:
            other.close()
    assert refused == b""
    assert answered


async def _answers(port: int) -> bool:
    reader, writer = await connect(port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        return bool(await read_until_closed(reader, 30))
    finally:
        writer.close()


async def test_request_with_too_many_headers_is_refused(settings: Settings) -> None:
    async with probing_gateway(settings, max_headers=10) as served:
        reader, writer = await connect(served.settings.http_port)
        extra = "".join(f"X-Header-{number}: {number}\r\n" for number in range(20))
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n".encode())
        sent_back = await read_until_closed(reader, 30)
        writer.close()
        fine = await http_get(served.settings.http_port, "/healthz", "localhost")
    assert sent_back.split(b" ", 2)[1] in (b"400", b"431")
    assert fine.status == 200


async def test_header_line_longer_than_the_limit_is_refused(settings: Settings) -> None:
    async with probing_gateway(settings, max_header_bytes=1024) as served:
        reader, writer = await connect(served.settings.http_port)
        writer.write(
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 4096 + b"\r\n\r\n"
        )
        sent_back = await read_until_closed(reader, 30)
        writer.close()
    assert sent_back.split(b" ", 2)[1] in (b"400", b"431")
