"""The tenant API sub-application: bearer authentication, operations, OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway import keys
from gateway.api import idempotency
from gateway.api.framework import (
    ApiContext,
    ApiRoutes,
    Operation,
    Page,
    SchemaSet,
    dumps,
    field_errors,
    list_schema,
    page_json,
    parse_query,
    read_json_body,
    to_json,
)
from gateway.api.openapi import build_openapi
from gateway.api.resources import all_routes
from gateway.errors import BadRequest, GatewayError, UnsupportedMediaType
from gateway.settings import Settings
from gateway.tenants.api_keys import authenticate
from gateway.tenants.errors import InvalidApiKey

PUBLIC_PATHS = frozenset({"/api/v1/openapi.json"})
ROUTES = web.AppKey("api_routes", ApiRoutes)
VALIDATE_RESPONSES = web.AppKey("api_validate_responses", bool)


class ResponseMismatch(GatewayError):
    """A handler returned a body its declared schema does not allow (a bug, seen in tests)."""

    status = 500
    title = "Response does not match the API schema"


@web.middleware
async def authentication_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every operation except the OpenAPI document needs `Authorization: Bearer <key>`."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise InvalidApiKey("send the API key as Authorization: Bearer <key>")
    request[keys.API_TENANT] = await authenticate(request.config_dict[keys.POOL], secret.strip())
    return await handler(request)


def _route_handler(
    operation: Operation, schemas: SchemaSet, validate_responses: bool
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    body_validator = schemas.validator(operation.request) if operation.request else None
    response_schema = operation.response
    if response_schema is not None and operation.paginated:
        response_schema = list_schema(response_schema)
    response_validator = schemas.validator(response_schema) if response_schema else None

    async def handle(request: web.Request) -> web.StreamResponse:
        tenant = request[keys.API_TENANT]
        query = parse_query(operation, request)
        body: dict[str, Any] = {}
        if operation.raw_body is None and operation.method in ("POST", "PATCH", "PUT"):
            body = await read_json_body(request)
            if body_validator is not None:
                errors = field_errors(body_validator.iter_errors(body))
                if errors:
                    raise BadRequest("the request body is invalid", errors=errors)
        elif operation.raw_body is not None:
            accepted = operation.raw_body.split(",")
            if request.content_type not in (*accepted, "application/octet-stream"):
                raise UnsupportedMediaType(f"send the body as one of {', '.join(accepted)}")
        elif await request.read():
            raise BadRequest(f"{operation.method} takes no body")
        context = ApiContext(request=request, tenant=tenant, body=body, query=query)

        async def run() -> tuple[int, Any]:
            result = await operation.handler(context)
            payload = page_json(result) if isinstance(result, Page) else to_json(result)
            if validate_responses and response_validator is not None:
                problems = field_errors(response_validator.iter_errors(payload))
                if problems:
                    raise ResponseMismatch(f"{operation.operation_id}: {problems}")
            return operation.status, payload

        if operation.method == "POST" and "Idempotency-Key" in request.headers:
            status, payload, replayed = await idempotency.run_once(
                request.config_dict[keys.POOL],
                request.config_dict[keys.SEALER],
                tenant_id=tenant.id,
                key=request.headers["Idempotency-Key"],
                method=operation.method,
                path=request.path,
                body=await request.read(),
                run=run,
            )
        else:
            status, payload = await run()
            replayed = False
        if status == 204:
            return web.Response(status=204)
        response = web.json_response(payload, status=status, dumps=dumps)
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    return handle


async def openapi_document(request: web.Request) -> web.Response:
    document = build_openapi(request.app[ROUTES], request.config_dict[keys.SETTINGS])
    return web.json_response(document, dumps=dumps)


def create_api_app(settings: Settings, *, validate_responses: bool = False) -> web.Application:
    """The /api/v1 sub-application with every declared operation."""
    app = web.Application(middlewares=[authentication_middleware])
    api = all_routes()
    app[ROUTES] = api
    app[VALIDATE_RESPONSES] = validate_responses
    schemas = SchemaSet(api.schemas)
    app.router.add_get("/openapi.json", openapi_document)
    for operation in api.operations:
        app.router.add_route(
            operation.method,
            operation.path,
            _route_handler(operation, schemas, validate_responses),
            name=operation.operation_id,
        )
    return app
