"""The OpenAPI document is valid OpenAPI 3.1 and lists exactly the routes the API serves."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from gateway.api.app import create_api_app
from gateway.settings import Settings


async def test_openapi_document_is_valid_and_public(gateway_client: Any) -> None:
    response = await gateway_client.get(
        "/api/v1/openapi.json", headers={"Host": "api.localhost:8080"}
    )
    assert response.status == 200
    document = await response.json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "http://api.localhost:8080"}]


async def test_openapi_lists_every_route_the_api_serves(gateway_client: Any) -> None:
    response = await gateway_client.get(
        "/api/v1/openapi.json", headers={"Host": "api.localhost:8080"}
    )
    document = await response.json()
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    api = create_api_app(Settings())
    served = {
        (route.method, "/api/v1" + route.resource.canonical)
        for route in api.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    served.discard(("GET", "/api/v1/openapi.json"))
    assert documented == served
    for resource in ("customers", "subscriptions", "invoices", "wallets", "checkout_sessions"):
        assert any(path.startswith(f"/api/v1/{resource}") for _, path in documented), resource


async def test_every_post_documents_idempotency_key_and_errors(gateway_client: Any) -> None:
    response = await gateway_client.get(
        "/api/v1/openapi.json", headers={"Host": "api.localhost:8080"}
    )
    document = await response.json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "default" in operation["responses"], (method, path)
            names = {parameter["name"] for parameter in operation["parameters"]}
            if method == "post":
                assert "Idempotency-Key" in names, path


async def test_every_body_documents_the_422_with_a_code_per_field(gateway_client: Any) -> None:
    response = await gateway_client.get(
        "/api/v1/openapi.json", headers={"Host": "api.localhost:8080"}
    )
    document = await response.json()
    problem = document["components"]["schemas"]["Problem"]
    assert {"field", "code", "message"} <= set(
        problem["properties"]["errors"]["items"]["properties"]
    )
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                invalid = operation["responses"]["422"]["content"]["application/problem+json"]
                assert invalid["schema"] == {"$ref": "#/components/schemas/Problem"}, (method, path)
    customer = document["components"]["schemas"]["Customer"]
    assert customer["properties"]["address"] == {"$ref": "#/components/schemas/Address"}
    assert "object" in customer["required"]
