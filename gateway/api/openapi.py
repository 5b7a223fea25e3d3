"""The OpenAPI 3.1 document, built from the declared operations (so it matches the handlers)."""

from __future__ import annotations

import re
from typing import Any

from gateway.api.framework import ApiRoutes, list_schema, ref
from gateway.settings import Settings

_PATH_PARAM = re.compile(r"\{([a-z_]+)\}")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem document.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "error_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def build_openapi(api: ApiRoutes, settings: Settings) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for operation in api.operations:
        parameters = [
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
        responses: dict[str, Any] = {
            "default": {
                "description": "An error.",
                "content": {"application/problem+json": {"schema": ref("Problem")}},
            }
        }
        if operation.status == 204:
            responses["204"] = {"description": "Done."}
        else:
            schema = operation.response or {}
            if operation.paginated:
                schema = list_schema(schema)
            responses[str(operation.status)] = {
                "description": operation.summary,
                "content": {"application/json": {"schema": schema}},
            }
        entry: dict[str, Any] = {
            "operationId": operation.operation_id,
            "summary": operation.summary,
            "tags": [operation.tag],
            "parameters": parameters,
            "responses": responses,
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
            entry["requestBody"] = {
                "required": operation.method != "PATCH",
                "content": {"application/json": {"schema": operation.request}},
            }
        paths.setdefault("/api/v1" + operation.path, {})[operation.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Billing edge gateway tenant API",
            "version": "1",
            "description": (
                "Manage your brand, domains, customers, subscriptions, invoices, wallets and "
                "checkout sessions. Authenticate with `Authorization: Bearer <API key>`. "
                "Errors are RFC 9457 problem documents with field-level `errors`. Lists are "
                "paginated with `limit` and `starting_after` (the previous page's `next_cursor`)."
            ),
        },
        "servers": [{"url": settings.public_url(settings.api_host)}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": {**api.schemas, "Problem": PROBLEM_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
