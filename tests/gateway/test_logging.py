"""Operators read one JSON line per request, tied to its errors by request id and tenant."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.edge import keys
from gateway.ops.logging_setup import OWN_PACKAGES, configure_logging, timestamp
from gateway.settings import Settings
from tests.conftest import ApiTenant
from tests.gateway.ops_gateway import json_lines, observed_app

Client = TestClient[web.Request, web.Application]
MakeTenant = Callable[..., Awaitable[ApiTenant]]
TENANT_HOST = {"Host": "acme.localhost:8080"}


async def crash(request: web.Request) -> web.Response:
    raise RuntimeError("the ledger exploded")


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """Everything logged during the test, as the production JSON lines."""
    root = logging.getLogger()
    named = ["aiohttp.access", *OWN_PACKAGES]
    saved = (list(root.handlers), root.level, {n: logging.getLogger(n).level for n in named})
    buffer = io.StringIO()
    configure_logging("INFO", log_format="json", stream=buffer)
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
async def client(
    settings: Settings,
    make_tenant: MakeTenant,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> Client:
    await make_tenant("acme")
    app = observed_app(dataclasses.replace(settings))
    app.router.add_get("/test/crash", crash)
    client = await aiohttp_client(app)
    assert client.app[keys.HOST_INDEX].lookup("acme.localhost") is not None
    return client


def lines_of(log: io.StringIO, logger: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(log.getvalue()) if line["logger"] == logger]


async def access_lines(log: io.StringIO, count: int) -> list[dict[str, Any]]:
    # The access line is written as the handler returns, just before the response is sent.
    for _ in range(100):
        lines = lines_of(log, "gateway.access")
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.01)
    return lines_of(log, "gateway.access")


async def test_each_request_is_one_json_line_with_request_id_tenant_status_and_duration(
    client: Client, log: io.StringIO, make_tenant: MakeTenant
) -> None:
    response = await client.get(
        "/portal/cus_unknown", headers={**TENANT_HOST, "X-Request-Id": "lb-7f3a.42"}
    )
    assert response.status == 404
    assert response.headers["X-Request-Id"] == "lb-7f3a.42"

    [line] = await access_lines(log, 1)
    tenant = client.app[keys.HOST_INDEX].lookup("acme.localhost")
    assert tenant is not None
    assert line["request_id"] == "lb-7f3a.42"
    assert line["tenant_id"] == tenant.id
    assert line["tenant"] == "acme"
    assert line["method"] == "GET"
    assert line["path"] == "/portal/cus_unknown"
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    assert line["level"] == "INFO"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", line["time"])


async def test_api_requests_are_logged_with_the_api_keys_tenant(
    client: Client, log: io.StringIO, make_tenant: MakeTenant
) -> None:
    other = await make_tenant("other")
    response = await client.get("/api/v1/customers", headers=other.headers)
    assert response.status == 200
    generated = response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    [line] = await access_lines(log, 1)
    assert line["request_id"] == generated
    assert line["tenant_id"] == other.tenant.id
    assert line["status"] == 200


async def test_a_request_id_that_could_forge_log_fields_is_replaced(
    client: Client, log: io.StringIO
) -> None:
    forged = 'x" status=200 injected="'
    response = await client.get("/healthz", headers={"X-Request-Id": forged})
    assert response.status == 200
    assert response.headers["X-Request-Id"] != forged
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])
    [line] = await access_lines(log, 1)
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert "tenant_id" not in line


async def test_an_error_line_carries_the_error_id_shown_to_the_customer_and_the_request_id(
    client: Client, log: io.StringIO
) -> None:
    response = await client.get("/test/crash", headers=TENANT_HOST)
    assert response.status == 500
    page = await response.text()
    match = re.search(r"Error id: <code>([0-9a-f]{16})</code>", page)
    assert match is not None
    request_id = response.headers["X-Request-Id"]

    [error] = lines_of(log, "gateway.edge.error_middleware")
    assert error["error_id"] == match[1]
    assert error["request_id"] == request_id
    assert error["level"] == "ERROR"
    assert "RuntimeError: the ledger exploded" in error["exception"]
    [access] = await access_lines(log, 1)
    assert access["request_id"] == request_id
    assert access["status"] == 500
    assert access["tenant"] == "acme"


async def test_aiohttp_access_lines_are_silenced_in_favour_of_ours(
    client: Client, log: io.StringIO
) -> None:
    await client.get("/healthz")
    await access_lines(log, 1)
    assert not lines_of(log, "aiohttp.access")


async def test_an_access_line_holds_the_fields_log_queries_rely_on(
    client: Client, log: io.StringIO
) -> None:
    await client.get("/no-such-page", headers=TENANT_HOST)
    [line] = await access_lines(log, 1)
    assert list(line) == [
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "tenant_id",
        "tenant",
        "method",
        "path",
        "status",
        "duration_ms",
        "remote",
    ]
    assert line["message"] == "GET /no-such-page 404"
    assert line["remote"] == "127.0.0.1"


async def test_an_access_line_is_the_same_json_whichever_logging_set_up_writes_it(
    client: Client, log: io.StringIO
) -> None:
    # Written preformatted to the installed handler; with a filter on the root logger it
    # goes through an ordinary LogRecord and the formatter instead.
    await client.get("/no-such-page?x=1", headers={**TENANT_HOST, "X-Request-Id": "same-1"})
    [direct] = await access_lines(log, 1)
    logging.getLogger().addFilter(lambda record: True)
    try:
        await client.get("/no-such-page?x=1", headers={**TENANT_HOST, "X-Request-Id": "same-1"})
        [_, through_records] = await access_lines(log, 2)
    finally:
        logging.getLogger().filters.clear()
    for line in (direct, through_records):
        del line["time"], line["duration_ms"]
    assert list(direct.items()) == list(through_records.items())


async def test_sampling_leaves_out_fast_successes_but_never_errors(
    settings: Settings, log: io.StringIO, aiohttp_client: Any
) -> None:
    app = observed_app(
        dataclasses.replace(settings, access_log_sample=0.0, access_log_fast_ms=100.0)
    )
    sampled: Client = await aiohttp_client(app)
    for _ in range(3):
        assert (await sampled.get("/healthz")).status == 200
    assert (await sampled.get("/no-such-page", headers=TENANT_HOST)).status == 404
    await asyncio.sleep(0.05)
    assert [line["status"] for line in lines_of(log, "gateway.access")] == [404]


async def test_without_sampling_every_fast_success_has_its_line(
    settings: Settings, log: io.StringIO, aiohttp_client: Any
) -> None:
    # Sampling only applies under the threshold: at 0 ms no request is fast enough.
    app = observed_app(dataclasses.replace(settings, access_log_sample=0.0, access_log_fast_ms=0))
    sampled: Client = await aiohttp_client(app)
    for _ in range(3):
        assert (await sampled.get("/healthz")).status == 200
    assert len(await access_lines(log, 3)) == 3


async def test_lines_logged_in_one_loop_iteration_reach_the_stream_in_order_by_the_next(
    log: io.StringIO,
) -> None:
    writer = logging.getLogger("tests.batching")
    for number in range(3):
        writer.warning("line %d", number)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    messages = [line["message"] for line in json_lines(log.getvalue())]
    assert messages[-3:] == ["line 0", "line 1", "line 2"]


async def test_lines_kept_for_the_loop_are_written_by_flush(log: io.StringIO) -> None:
    logging.getLogger("tests.batching").warning("before shutdown")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert list(json_lines(log.getvalue()))[-1]["message"] == "before shutdown"


def test_lines_logged_outside_an_event_loop_are_written_at_once(log: io.StringIO) -> None:
    logging.getLogger("tests.batching").warning("from a thread or a command")
    assert list(json_lines(log.getvalue()))[-1]["message"] == "from a thread or a command"


@pytest.mark.parametrize(
    "created",
    [0.0, 1739517346.4549994, 1764115199.9995, 1764115199.999999, 1764115200.0005, 1.5e9 + 0.25],
)
def test_log_times_are_iso_utc_to_the_millisecond(created: float) -> None:
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert timestamp(created) == expected


def test_library_info_lines_are_quiet_and_the_gateways_own_are_kept(log: io.StringIO) -> None:
    logging.getLogger("stripe").info("message='Request to Stripe api'")
    logging.getLogger("stripe").warning("a library warning")
    logging.getLogger("gateway.demo.seed").info("the gateway's own line")
    logging.getLogger("billing.topups").info("a billing line")

    messages = [line["message"] for line in json_lines(log.getvalue())]

    assert messages == ["a library warning", "the gateway's own line", "a billing line"]


def test_debug_also_opens_the_libraries_lines() -> None:
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, {n: logging.getLogger(n).level for n in OWN_PACKAGES})
    try:
        configure_logging("DEBUG", log_format="json", stream=buffer)
        logging.getLogger("stripe").debug("a library detail")
        assert [line["message"] for line in json_lines(buffer.getvalue())] == ["a library detail"]
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
