"""Hostile input on every API route of the OpenAPI document: a 4xx saying what is wrong, no 5xx.

The routes come from /api/v1/openapi.json, so a route added later is covered
without touching this file. Each operation gets, in its query string, its path
and its body (whatever its method: a GET's body is read too), a NUL, a lone
surrogate, a 50,000-deep array and a 5,000-digit integer; and each string and
integer field its schema declares gets them one by one, so they reach the
handlers and the database when nothing stops them earlier.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ApiTenant

DEEP = b"[" * 50_000 + b"]" * 50_000
HUGE_INTEGER = b"1" + b"0" * 5_000

# Raw JSON bodies (bytes, so invalid code points can be written as JSON escapes).
BODIES = {
    "nul in a string": b'{"name": "a\\u0000b"}',
    "lone surrogate": b'{"name": "x\\ud800y"}',
    "deep nesting": DEEP,
    "deep nesting in a field": b'{"metadata": ' + DEEP + b"}",
    "huge integer": b'{"amount": ' + HUGE_INTEGER + b"}",
    "huge integer top level": HUGE_INTEGER,
    "infinity": b'{"amount": Infinity}',
    "nan": b'{"amount": NaN}',
    "huge exponent": b'{"amount": 1e999}',
}
QUERIES = {
    "nul": "%00",
    "lone surrogate as utf-8": "%ED%A0%80",
    "invalid utf-8": "%FF%FE",
    "control character": "%1B%5B31m",
    "huge integer": "1" + "0" * 5_000,
}


def openapi_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    # An optional object is `anyOf: [{"$ref": ...}, {"type": "null"}]`: follow the object.
    options = [option for option in schema.get("anyOf", []) if option != {"type": "null"}]
    if len(options) == 1:
        schema = options[0]
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def body_schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return resolve(document, content["application/json"]["schema"])


def field_bodies(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, bytes]:
    """For each string or integer field (one level of nesting too), a body with a bad value."""
    bodies: dict[str, bytes] = {}

    def visit(properties: dict[str, Any], wrap: Any) -> None:
        for name, declared in properties.items():
            declared = resolve(document, declared)
            kinds = declared.get("type", [])
            kinds = [kinds] if isinstance(kinds, str) else kinds
            if "string" in kinds:
                bodies[f"{name}: nul"] = wrap(name, '"a\\u0000b"')
                bodies[f"{name}: lone surrogate"] = wrap(name, '"x\\udc00"')
                if name == "name" or name.endswith("_name"):
                    bodies[f"{name}: escape sequence"] = wrap(name, '"\\u001b[2J"')
            if "integer" in kinds or "number" in kinds:
                bodies[f"{name}: huge integer"] = wrap(name, HUGE_INTEGER.decode())
            if "object" in kinds and "properties" in declared and wrap is top:
                visit(
                    declared["properties"],
                    lambda inner, value, outer=name: top(outer, f'{{"{inner}": {value}}}'),
                )

    def top(name: str, value: str) -> bytes:
        return f'{{"{name}": {value}}}'.encode()

    visit(schema.get("properties", {}), top)
    return bodies


@pytest.fixture
async def document(gateway_client: Any) -> dict[str, Any]:
    response = await gateway_client.get(
        "/api/v1/openapi.json", headers={"Host": "api.localhost:8080"}
    )
    found: dict[str, Any] = await response.json()
    return found


async def send(
    client: Any, tenant: ApiTenant, method: str, path: str, body: bytes | None, query: str = ""
) -> tuple[int, dict[str, Any] | str]:
    headers = dict(tenant.headers)
    if body is not None:
        headers["Content-Type"] = "application/json"
    response = await client.request(
        method, path + query, headers=headers, data=body, allow_redirects=False
    )
    text = await response.text()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


def concrete(path: str, customer_id: str) -> str:
    return (
        path.replace("{customer_id}", customer_id)
        .replace("{name}", "billing.alpeak.test")
        .replace("{", "x_")
        .replace("}", "")
    )


def assert_client_error(status: int, answer: Any, what: str) -> None:
    assert 400 <= status < 500, f"{what}: HTTP {status}: {answer}"
    if status not in (401, 404, 405):
        # A problem document with a detail; or, for a request line over the size limit,
        # the HTTP parser's own plain-text answer, which says so too.
        explained = answer.get("detail") if isinstance(answer, dict) else answer
        assert explained, f"{what}: {answer}"


async def test_every_route_refuses_bad_bodies_with_a_4xx(
    gateway_client: Any, make_tenant: Any, document: dict[str, Any]
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    created = await gateway_client.post(
        "/api/v1/customers", headers=alpeak.headers, json={"name": "Ada", "email": "a@b.example"}
    )
    customer_id = (await created.json())["id"]
    checked = 0
    for method, path, operation in openapi_operations(document):
        target = concrete(path, customer_id)
        cases = dict(BODIES)
        schema = body_schema(document, operation)
        if schema is not None:
            cases.update(field_bodies(document, schema))
        for case, body in cases.items():
            status, answer = await send(gateway_client, alpeak, method, target, body)
            assert_client_error(status, answer, f"{method} {path} with {case}")
            checked += 1
    assert checked > 200


async def test_every_route_refuses_bad_query_and_path_values_with_a_4xx(
    gateway_client: Any, make_tenant: Any, document: dict[str, Any]
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    for method, path, operation in openapi_operations(document):
        names = [
            parameter["name"]
            for parameter in operation.get("parameters", [])
            if parameter["in"] == "query"
        ] or ["anything"]
        for name in names:
            for case, value in QUERIES.items():
                status, answer = await send(
                    gateway_client,
                    alpeak,
                    method,
                    concrete(path, "cus_x"),
                    None,
                    f"?{name}={value}",
                )
                assert_client_error(status, answer, f"{method} {path}?{name}= {case}")
        if "{" in path:
            for case, value in QUERIES.items():
                target = path.replace("{", "").replace("}", "")
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path":
                        target = target.replace(parameter["name"], value)
                status, answer = await send(gateway_client, alpeak, method, target, None)
                assert_client_error(status, answer, f"{method} {path} with {case} in the path")


@pytest.mark.parametrize("case", ["nul", "lone surrogate", "deep nesting", "huge integer"])
async def test_the_error_says_what_is_wrong(
    case: str, gateway_client: Any, make_tenant: Any
) -> None:
    alpeak: ApiTenant = await make_tenant("alpeak")
    body = {
        "nul": b'{"name": "a\\u0000b"}',
        "lone surrogate": b'{"name": "x\\ud800y"}',
        "deep nesting": DEEP,
        "huge integer": b'{"name": "Ada", "email": "a@b.example", "balance": '
        + HUGE_INTEGER
        + b"}",
    }[case]
    status, answer = await send(gateway_client, alpeak, "POST", "/api/v1/customers", body)
    assert status == 400
    assert isinstance(answer, dict)
    expected = {
        "nul": "NUL",
        "lone surrogate": "surrogate",
        "deep nesting": "nested",
        "huge integer": "digits",
    }[case]
    message = json.dumps(answer)
    assert expected in message, message
    listed = await gateway_client.get("/api/v1/customers", headers=alpeak.headers)
    assert (await listed.json())["data"] == []  # nothing was stored
