"""Declarative API operations: one registration gives the route, validation and OpenAPI.

Each resource module declares its operations on an `ApiRoutes` with pydantic
models for the request body and the response. The same declaration builds the
aiohttp route, validates the body (every wrong field at once, 422), serialises
the response, and produces the OpenAPI 3.1 document (pydantic's JSON Schema is
draft 2020-12, which OpenAPI 3.1 uses as it is), so the document cannot drift
from the handlers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway import keys
from gateway.api.problems import InvalidRequest
from gateway.api.query import DEFAULT_PAGE, PAGINATION_PARAMS, QueryParam
from gateway.errors import BadRequest, UnsupportedMediaType
from gateway.settings import Settings
from gateway.tenants.models import Tenant
from kernel.sealing import Sealer
from kernel.text import InvalidText, parse_json

JsonSchema = dict[str, Any]
Model = type[BaseModel]
RequestModel = TypeVar("RequestModel", bound=BaseModel)


@dataclass(frozen=True)
class Page:
    """One page of a list; `items` are response models (or dicts) carrying an "id"."""

    items: Sequence[Any]
    has_more: bool


@dataclass
class ApiContext:
    """What a handler gets: the authenticated tenant, the validated body and the services."""

    request: web.Request
    tenant: Tenant
    body: dict[str, Any]  # the validated body, with only the fields the client sent
    query: dict[str, Any]
    model: BaseModel | None = None  # the validated body as its request model

    @property
    def pool(self) -> Any:
        return self.request.config_dict[keys.POOL]

    @property
    def settings(self) -> Settings:
        return self.request.config_dict[keys.SETTINGS]

    @property
    def sealer(self) -> Sealer:
        return self.request.config_dict[keys.SEALER]

    def parsed(self, model: type[RequestModel]) -> RequestModel:
        """The validated body as the operation's request model (typed, defaults filled in)."""
        if not isinstance(self.model, model):
            raise TypeError(f"the operation's request model is not {model.__name__}")
        return self.model

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    @property
    def limit(self) -> int:
        return int(self.query.get("limit", DEFAULT_PAGE))

    @property
    def starting_after(self) -> str | None:
        value = self.query.get("starting_after")
        return str(value) if value is not None else None


Handler = Callable[[ApiContext], Awaitable[Any]]


@dataclass
class Operation:
    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    request: Model | None
    response: Model | None
    status: int
    query: tuple[QueryParam, ...]
    paginated: bool
    raw_body: str | None  # a media type accepted as raw bytes (icon upload), else JSON


@dataclass
class ApiRoutes:
    """Operations of one or more resource modules."""

    operations: list[Operation] = field(default_factory=list)

    def operation(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        request: Model | None = None,
        response: Model | None = None,
        status: int = 200,
        query: Iterable[QueryParam] = (),
        paginated: bool = False,
        raw_body: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Declare an operation; `path` is relative to /api/v1 and uses `{name}` parameters."""

        def register(handler: Handler) -> Handler:
            params = tuple(query) + (PAGINATION_PARAMS if paginated else ())
            self.operations.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    handler=handler,
                    operation_id=handler.__name__,
                    summary=summary,
                    tag=tag,
                    request=request,
                    response=response,
                    status=status,
                    query=params,
                    paginated=paginated,
                    raw_body=raw_body,
                )
            )
            return handler

        return register

    def include(self, other: ApiRoutes) -> None:
        self.operations.extend(other.operations)


def to_json(value: Any) -> Any:
    """Models, dataclasses, datetimes and dates into JSON-ready values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return to_json(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_json(value), separators=(",", ":"), ensure_ascii=False)


async def read_json_body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or BadRequest/UnsupportedMediaType saying why."""
    raw = await request.read()
    if not raw.strip():
        return {}
    if request.content_type not in ("application/json", "application/merge-patch+json"):
        raise UnsupportedMediaType(
            f"send the body as application/json, not {request.content_type or 'untyped'}"
        )
    try:
        body = parse_json(raw)
    except InvalidText as error:
        raise BadRequest(str(error), errors=error.errors) from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def serialise(model: Model | None, value: Any) -> Any:
    """A handler's result as JSON-ready data, through its response model when it has one.

    A plain dict is validated by the model first, so a response cannot leave the
    shape the OpenAPI document declares.
    """
    if isinstance(value, Page):
        return page_json(Page([serialise(model, item) for item in value.items], value.has_more))
    if model is not None and isinstance(value, Mapping):
        value = model.model_validate(value)
    return to_json(value)


def page_json(page: Page) -> dict[str, Any]:
    items = [to_json(item) for item in page.items]
    return {
        "object": "list",
        "data": items,
        "has_more": page.has_more,
        "next_cursor": items[-1]["id"] if page.has_more and items else None,
    }


def validate_body(model: Model, raw: bytes) -> tuple[BaseModel, dict[str, Any]]:
    """The body as `model` and as a dict of the fields sent; InvalidRequest naming every error.

    Validated from the JSON text (already checked by `read_json_body`) in strict mode:
    no string becomes a number or a boolean, but a date-time may be written as text.
    """
    try:
        found = model.model_validate_json(raw.strip() or b"{}")
    except ValidationError as error:
        raise InvalidRequest.from_validation(error) from None
    return found, found.model_dump(mode="json", exclude_unset=True)


def list_schema(item: JsonSchema) -> JsonSchema:
    return {
        "type": "object",
        "required": ["object", "data", "has_more", "next_cursor"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": item},
            "has_more": {"type": "boolean"},
            "next_cursor": {"type": ["string", "null"]},
        },
    }
