"""The tenant API sub-application: bearer authentication, operations, OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.api import idempotency
from gateway.api.framework import (
    ApiContext,
    ApiRoutes,
    Operation,
    dumps,
    read_json_body,
    serialise,
    validate_body,
)
from gateway.api.openapi import build_openapi
from gateway.api.query import parse_query
from gateway.api.resources import all_routes
from gateway.edge import keys
from gateway.edge.errors import BadRequest, UnsupportedMediaType
from gateway.settings import Settings
from gateway.tenants.api_keys import authenticate
from gateway.tenants.errors import InvalidApiKey

PUBLIC_PATHS = frozenset({"/api/v1/openapi.json"})
ROUTES = web.AppKey("api_routes", ApiRoutes)
DOCUMENT = web.AppKey("api_openapi_document", dict[str, Any])


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


async def _read_input(operation: Operation, request: web.Request) -> ApiContext:
    """The validated query and body of a request: every wrong field in one InvalidRequest."""
    query = parse_query(operation.query, request.query)
    body: dict[str, Any] = {}
    model = None
    if operation.raw_body is None and operation.method in ("POST", "PATCH", "PUT"):
        await read_json_body(request)  # 400 for what is not JSON at all, 415 for another type
        if operation.request is not None:
            model, body = validate_body(operation.request, await request.read())
    elif operation.raw_body is not None:
        accepted = operation.raw_body.split(",")
        if request.content_type not in (*accepted, "application/octet-stream"):
            raise UnsupportedMediaType(f"send the body as one of {', '.join(accepted)}")
    elif await request.read():
        raise BadRequest(f"{operation.method} takes no body")
    tenant = request[keys.API_TENANT]
    return ApiContext(request=request, tenant=tenant, body=body, query=query, model=model)


def _route_handler(operation: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        context = await _read_input(operation, request)

        async def run() -> tuple[int, Any]:
            return operation.status, serialise(operation.response, await operation.handler(context))

        if operation.method == "POST" and "Idempotency-Key" in request.headers:
            status, payload, replayed = await idempotency.run_once(
                request.config_dict[keys.POOL],
                request.config_dict[keys.SEALER],
                tenant_id=context.tenant.id,
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
    return web.json_response(request.app[DOCUMENT], dumps=dumps)


def create_api_app(settings: Settings) -> web.Application:
    """The /api/v1 sub-application with every declared operation.

    Every response is built by its pydantic model, so it always matches the document.
    """
    app = web.Application(middlewares=[authentication_middleware])
    api = all_routes()
    app[ROUTES] = api
    app[DOCUMENT] = build_openapi(api, settings)
    app.router.add_get("/openapi.json", openapi_document)
    for operation in api.operations:
        app.router.add_route(
            operation.method,
            operation.path,
            _route_handler(operation),
            name=operation.operation_id,
        )
    return app
