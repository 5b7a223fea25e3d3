"""The OpenAPI 3.1 document, generated from the operations' pydantic models (so it matches them).

pydantic's JSON Schema is draft 2020-12, the dialect of OpenAPI 3.1, so the
models' schemas go into `components.schemas` as they are; only `X | None`
fields are written the short way (`"type": ["string", "null"]`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic.json_schema import JsonSchemaMode, models_json_schema

from gateway.api.framework import ApiRoutes, JsonSchema, Model, Operation, list_schema
from gateway.api.problems import PROBLEM_SCHEMA
from gateway.settings import Settings

_PATH_PARAM = re.compile(r"\{([a-z_]+)\}")
REF_TEMPLATE = "#/components/schemas/{model}"
DESCRIPTION = (
    "Manage your brand, domains, customers, subscriptions, invoices, wallets and "
    "checkout sessions. Authenticate with `Authorization: Bearer <API key>`. "
    "Invalid input is a 422 RFC 9457 problem document listing every wrong field at once, "
    "each with a stable `code`. Lists are paginated with `limit` and `starting_after` "
    "(the previous page's `next_cursor`)."
)
Refs = dict[tuple[Model, JsonSchemaMode], JsonSchema]


def build_openapi(api: ApiRoutes, settings: Settings) -> dict[str, Any]:
    """The whole document: a path item per operation, a component per model."""
    refs, components = model_schemas(api)
    paths: dict[str, dict[str, Any]] = {}
    for operation in api.operations:
        path = paths.setdefault("/api/v1" + operation.path, {})
        path[operation.method.lower()] = _operation(operation, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Billing edge gateway tenant API",
            "version": "1",
            "description": DESCRIPTION,
        },
        "servers": [{"url": settings.public_url(settings.api_host)}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": {**components, "Problem": PROBLEM_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def model_schemas(api: ApiRoutes) -> tuple[Refs, dict[str, JsonSchema]]:
    """A `$ref` per (model, mode) and the component schemas they point at."""
    wanted: list[tuple[Model, JsonSchemaMode]] = []
    for operation in api.operations:
        if operation.request is not None:
            wanted.append((operation.request, "validation"))
        if operation.response is not None:
            wanted.append((operation.response, "serialization"))
    refs, document = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF_TEMPLATE)
    components = {name: _compact(schema) for name, schema in document.get("$defs", {}).items()}
    return {(model, mode): refs[(model, mode)] for model, mode in wanted}, components


def _compact(schema: Any) -> Any:
    """`anyOf: [X, {"type": "null"}]` with a simple X written as `"type": [X's type, "null"]`."""
    if isinstance(schema, list):
        return [_compact(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: _compact(value) for key, value in schema.items() if key != "title"}
    options = schema.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = next(option for option in options if option != {"type": "null"})
        if isinstance(other.get("type"), str) and "$ref" not in other:
            del schema["anyOf"]
            schema = {**other, **schema, "type": [other["type"], "null"]}
    return schema


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(operation.path)
    ]
    parameters += [
        {
            "name": param.name,
            "in": "query",
            "required": False,
            "schema": param.schema,
            "description": param.description,
        }
        for param in operation.query
    ]
    if operation.method == "POST":
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": "Replays the first successful response for 24 hours.",
            }
        )
    return parameters


def _responses(operation: Operation, refs: Refs) -> dict[str, Any]:
    problem = {
        "application/problem+json": {"schema": {"$ref": REF_TEMPLATE.format(model="Problem")}}
    }
    responses: dict[str, Any] = {"default": {"description": "An error.", "content": problem}}
    if operation.request is not None or operation.query:
        responses["422"] = {
            "description": "Invalid input: every wrong field, each with a code.",
            "content": problem,
        }
    if operation.status == 204:
        responses["204"] = {"description": "Done."}
        return responses
    schema = refs[(operation.response, "serialization")] if operation.response else {}
    if operation.paginated:
        schema = list_schema(schema)
    responses[str(operation.status)] = {
        "description": operation.summary,
        "content": {"application/json": {"schema": schema}},
    }
    return responses


def _operation(operation: Operation, refs: Refs) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": _parameters(operation),
        "responses": _responses(operation, refs),
    }
    if operation.raw_body is not None:
        entry["requestBody"] = {
            "required": True,
            "content": {
                media: {"schema": {"type": "string", "contentMediaType": media}}
                for media in operation.raw_body.split(",")
            },
        }
    elif operation.request is not None:
        mode: Literal["validation"] = "validation"
        entry["requestBody"] = {
            "required": operation.method != "PATCH",
            "content": {"application/json": {"schema": refs[(operation.request, mode)]}},
        }
    return entry
