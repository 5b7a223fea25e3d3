"""Errors reach people as a branded page and API clients as problem documents, with an error id."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from billing import errors as billing_errors
from billing.stripe_gateway import PaymentFailed
from certs.budgets import BudgetExhausted
from gateway.app import create_app
from gateway.database import connect_to_database
from gateway.error_middleware import KIND_STATUS
from gateway.settings import Settings
from gateway.tenants import errors as tenant_errors
from kernel.errors import ErrorKind
from tests.fixtures.pebble import free_port

Client = TestClient[web.Request, web.Application]
TENANT_HOST = {"Host": "alpeak.localhost:8080"}
API_HOST = {"Host": "api.localhost:8080"}
BODY_LIMIT = 2048


async def crash(request: web.Request) -> web.Response:
    raise RuntimeError("database password is hunter2")


async def invalid_tenant_input(request: web.Request) -> web.Response:
    raise tenant_errors.InvalidTenantInput(
        {"brand_color": "must be # and six hex digits"}, codes={"brand_color": "invalid_color"}
    )


async def invalid_billing_input(request: web.Request) -> web.Response:
    raise billing_errors.InvalidInput({"address.country": "must be an ISO 3166-1 code"})


async def billing_conflict(request: web.Request) -> web.Response:
    raise billing_errors.Conflict("the subscription is already canceled", field="status")


async def missing_file(request: web.Request) -> web.Response:
    # An OSError that has nothing to do with the database.
    raise FileNotFoundError(2, "No such file or directory", "/nonexistent/template/cache")


async def database_unreachable(request: web.Request) -> web.Response:
    # What the pool raises when it cannot open a connection: nothing listens on the port.
    pool = await asyncpg.create_pool(
        f"postgresql://gateway@127.0.0.1:{free_port()}/gateway",
        min_size=0,
        connect=connect_to_database,
    )
    async with pool:
        await pool.fetchval("SELECT 1")
    return web.Response()


async def budget_exhausted(request: web.Request) -> web.Response:
    raise BudgetExhausted("shop.example", "certificates per week", datetime(2031, 5, 1, 12, 0))


async def card_declined(request: web.Request) -> web.Response:
    raise PaymentFailed("Your card was declined.", code="card_declined")


async def read_body(request: web.Request) -> web.Response:
    return web.Response(text=str(len(await request.read())))


@pytest.fixture
async def client(
    pool: asyncpg.Pool,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> Client:
    await pool.execute(
        "INSERT INTO tenants (slug, name, brand_color)"
        " VALUES ('alpeak', 'Alpeak Outdoor', '#aa0000')"
    )
    app = create_app(dataclasses.replace(settings, max_body_bytes=BODY_LIMIT))
    for prefix in ("/test", "/api/test"):
        app.router.add_get(f"{prefix}/crash", crash)
        app.router.add_get(f"{prefix}/invalid-tenant-input", invalid_tenant_input)
        app.router.add_get(f"{prefix}/invalid-billing-input", invalid_billing_input)
        app.router.add_get(f"{prefix}/conflict", billing_conflict)
        app.router.add_post(f"{prefix}/body", read_body)
        app.router.add_get(f"{prefix}/missing-file", missing_file)
        app.router.add_get(f"{prefix}/database-unreachable", database_unreachable)
        app.router.add_get(f"{prefix}/budget", budget_exhausted)
        app.router.add_get(f"{prefix}/declined", card_declined)
    return await aiohttp_client(app)


async def test_a_crash_shows_a_branded_page_with_an_error_id_that_is_in_the_log(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.error_middleware"):
        response = await client.get("/test/crash", headers=TENANT_HOST)
    assert response.status == 500
    page = await response.text()
    assert "--brand: #aa0000" in page
    assert "hunter2" not in page  # internals stay in the log
    match = re.search(r"Error id: <code>([0-9a-f]{16})</code>", page)
    assert match is not None
    logged = [record for record in caplog.records if match[1] in record.getMessage()]
    assert logged, "the error id is not in the log"
    assert logged[0].exc_info is not None  # with the traceback
    assert "hunter2" in logged[0].getMessage()


async def test_a_crash_in_the_api_is_a_problem_document_with_the_logged_error_id(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.error_middleware"):
        response = await client.get("/api/test/crash", headers=API_HOST)
    assert response.status == 500
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["status"] == 500
    assert problem["title"] == "Internal error"
    assert problem["instance"] == "/api/test/crash"
    assert problem["type"].endswith("/internal-error")
    assert "hunter2" not in problem["detail"]
    assert any(problem["error_id"] in record.getMessage() for record in caplog.records)


async def test_field_errors_in_the_api_list_each_field(client: Client) -> None:
    response = await client.get("/api/test/invalid-tenant-input", headers=API_HOST)
    assert response.status == 422
    problem = await response.json()
    assert problem["errors"] == [
        {"field": "brand_color", "code": "invalid_color", "message": "must be # and six hex digits"}
    ]
    response = await client.get("/api/test/invalid-billing-input", headers=API_HOST)
    assert response.status == 422
    # A field error raised without a code still has one: "invalid".
    assert (await response.json())["errors"] == [
        {"field": "address.country", "code": "invalid", "message": "must be an ISO 3166-1 code"}
    ]


async def test_field_errors_on_a_page_name_the_fields(client: Client) -> None:
    response = await client.get("/test/invalid-billing-input", headers=TENANT_HOST)
    assert response.status == 422
    page = await response.text()
    assert "address.country" in page
    assert "must be an ISO 3166-1 code" in page
    assert "Error id" not in page  # ids are for failures on our side


async def test_a_conflict_is_a_409_naming_the_field(client: Client) -> None:
    response = await client.get("/api/test/conflict", headers=API_HOST)
    assert response.status == 409
    problem = await response.json()
    assert problem["detail"] == "the subscription is already canceled"
    assert problem["errors"] == [
        {"field": "status", "code": "conflict", "message": "the subscription is already canceled"}
    ]


async def test_a_missing_api_key_asks_for_a_bearer_token(client: Client) -> None:
    response = await client.get("/api/v1/customers", headers=API_HOST)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.content_type == "application/problem+json"


async def test_a_wrong_method_keeps_the_allow_header(client: Client) -> None:
    response = await client.post("/brand/icon", headers=TENANT_HOST)
    assert response.status == 405
    assert "GET" in response.headers["Allow"]


async def test_an_unknown_api_path_is_a_problem_document(client: Client) -> None:
    response = await client.get("/api/v1/no-such-thing", headers=API_HOST)
    assert response.status in {401, 404}
    assert response.content_type == "application/problem+json"


async def test_a_body_over_the_limit_is_a_413_naming_the_limit(client: Client) -> None:
    response = await client.post("/api/test/body", data=b"x" * (BODY_LIMIT + 1), headers=API_HOST)
    assert response.status == 413
    problem = await response.json()
    assert f"{BODY_LIMIT} bytes" in problem["detail"]


async def test_errors_carry_the_security_headers(client: Client) -> None:
    for path, headers in (("/test/crash", TENANT_HOST), ("/api/test/crash", API_HOST)):
        response = await client.get(path, headers=headers)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_an_os_error_that_is_not_the_database_is_a_500_not_an_outage(client: Client) -> None:
    response = await client.get("/api/test/missing-file", headers=API_HOST)
    assert response.status == 500
    problem = await response.json(content_type=None)
    assert problem["title"] == "Internal error"
    assert "/nonexistent" not in problem["detail"]


async def test_a_database_the_pool_cannot_reach_is_a_branded_503(client: Client) -> None:
    response = await client.get("/test/database-unreachable", headers=TENANT_HOST)
    assert response.status == 503
    page = await response.text()
    assert "--brand: #aa0000" in page
    assert "try again" in page


async def test_an_exhausted_certificate_budget_is_a_429_saying_when_to_retry(
    client: Client,
) -> None:
    response = await client.get("/api/test/budget", headers=API_HOST)
    assert response.status == 429
    assert response.headers["Retry-After"] == "Thu, 01 May 2031 12:00:00 GMT"


async def test_a_declined_card_is_a_402_with_the_reason(client: Client) -> None:
    response = await client.get("/api/test/declined", headers=API_HOST)
    assert response.status == 402
    problem = await response.json(content_type=None)
    assert problem["detail"] == "Your card was declined."


def test_every_kind_of_domain_error_has_a_status() -> None:
    assert set(KIND_STATUS) == set(ErrorKind)
    assert all(400 <= status < 600 for status, _ in KIND_STATUS.values())
