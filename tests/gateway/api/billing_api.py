"""Helpers for the billing resource API tests: requests as a tenant, problem documents."""

from __future__ import annotations

from typing import Any

from tests.conftest import ApiTenant


async def call(
    client: Any,
    tenant: ApiTenant,
    method: str,
    path: str,
    *,
    json: Any = None,
    expect: int | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """Send a request to /api/v1`path` as `tenant`; check the status if `expect` is given."""
    response = await client.request(
        method, "/api/v1" + path, json=json, headers={**tenant.headers, **(headers or {})}
    )
    body = await response.json(content_type=None) if response.status != 204 else None
    if expect is not None:
        assert response.status == expect, body
    return body


async def problem_fields(response: Any, status: int) -> set[str]:
    """The fields a problem document names, after checking its status and media type."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    return {error["field"] for error in problem["errors"]}


async def make_customer(client: Any, tenant: ApiTenant, **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = await call(
        client, tenant, "POST", "/customers", json={"name": "Ada", **data}, expect=201
    )
    return body
