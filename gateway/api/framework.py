"""Declarative API operations: one registration gives the route, body validation and OpenAPI.

Each resource module declares its operations on an `ApiRoutes` with the JSON
Schema of the request body and of the response. The same declaration builds
the aiohttp route, validates the body (unknown fields and wrong types become
field-level errors), and produces the OpenAPI 3.1 document, so the document
cannot drift from the handlers. With `validate_responses` on (the tests turn
it on) every response is also checked against its declared schema.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import date, datetime
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway import keys
from gateway.errors import BadRequest, UnsupportedMediaType
from gateway.settings import Settings
from gateway.tenants.models import Tenant
from kernel.sealing import Sealer
from kernel.text import MAX_INTEGER_DIGITS, InvalidText, parse_json, unstorable_reason

JsonSchema = dict[str, Any]
REF_PREFIX = "#/components/schemas/"
MAX_PAGE = 100
DEFAULT_PAGE = 20


def ref(name: str) -> JsonSchema:
    """A reference to a named component schema."""
    return {"$ref": REF_PREFIX + name}


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: JsonSchema
    description: str = ""


@dataclass(frozen=True)
class Page:
    """One page of a list; `items` are already JSON-ready dicts carrying an "id"."""

    items: Sequence[Any]
    has_more: bool


@dataclass
class ApiContext:
    """What a handler gets: the authenticated tenant, the validated body and the services."""

    request: web.Request
    tenant: Tenant
    body: dict[str, Any]
    query: dict[str, Any]

    @property
    def pool(self) -> Any:
        return self.request.config_dict[keys.POOL]

    @property
    def settings(self) -> Settings:
        return self.request.config_dict[keys.SETTINGS]

    @property
    def sealer(self) -> Sealer:
        return self.request.config_dict[keys.SEALER]

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
    request: JsonSchema | None
    response: JsonSchema | None
    status: int
    query: tuple[QueryParam, ...]
    paginated: bool
    raw_body: str | None  # a media type accepted as raw bytes (icon upload), else JSON


PAGINATION_PARAMS = (
    QueryParam(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
        "How many items to return (1-100).",
    ),
    QueryParam(
        "starting_after",
        {"type": "string", "maxLength": 100},
        "The `next_cursor` of the previous page.",
    ),
)


@dataclass
class ApiRoutes:
    """Operations and component schemas of one or more resource modules."""

    operations: list[Operation] = field(default_factory=list)
    schemas: dict[str, JsonSchema] = field(default_factory=dict)

    def schema(self, name: str, schema: JsonSchema) -> JsonSchema:
        """Register a component schema; returns a `$ref` to it."""
        if name in self.schemas and self.schemas[name] != schema:
            raise ValueError(f"schema {name} registered twice with different content")
        self.schemas[name] = schema
        return ref(name)

    def operation(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        request: JsonSchema | None = None,
        response: JsonSchema | None = None,
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
        for name, schema in other.schemas.items():
            self.schema(name, schema)
        self.operations.extend(other.operations)


def to_json(value: Any) -> Any:
    """Dataclasses, datetimes and dates into JSON-ready values."""
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


class SchemaSet:
    """Validators for the registered schemas, resolving `$ref`s between them."""

    def __init__(self, schemas: Mapping[str, JsonSchema]) -> None:
        root = {"components": {"schemas": dict(schemas)}}
        self._registry: Registry[Any] = Registry().with_resource(
            "urn:gateway:api", Resource.from_contents(root, default_specification=DRAFT202012)
        )

    def validator(self, schema: JsonSchema) -> Draft202012Validator:
        wrapped = {"$id": "urn:gateway:api:op", **_rebase(schema)}
        return Draft202012Validator(wrapped, registry=self._registry)


def _rebase(schema: Any) -> Any:
    """Point `#/components/...` references at the shared resource."""
    if isinstance(schema, dict):
        return {
            key: (
                "urn:gateway:api" + value
                if key == "$ref" and value.startswith("#/")
                else _rebase(value)
            )
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(item) for item in schema]
    return schema


def field_errors(errors: Iterable[ValidationError]) -> dict[str, str]:
    """jsonschema errors as {dotted field: readable message}."""
    found: dict[str, str] = {}
    for error in sorted(errors, key=lambda e: [str(part) for part in e.absolute_path]):
        schema: Any = error.schema
        instance: Any = error.instance
        validator_value: Any = error.validator_value
        location = ".".join(str(part) for part in error.absolute_path)
        prefix = location + "." if location else ""
        if error.validator == "additionalProperties":
            allowed = set(schema.get("properties", {}))
            for name in sorted(set(instance) - allowed):
                found[prefix + name] = "unknown field"
            continue
        if error.validator == "required":
            for name in validator_value:
                if isinstance(instance, dict) and name not in instance:
                    found.setdefault(prefix + name, "is required")
            continue
        found.setdefault(location or "body", _message(error))
    return found


def _message(error: ValidationError) -> str:
    kind = error.validator
    value: Any = error.validator_value
    if kind == "type":
        expected = value if isinstance(value, str) else " or ".join(value)
        return f"must be of type {expected}"
    if kind == "enum":
        return "must be one of " + ", ".join(json.dumps(v) for v in value)
    if kind == "minimum":
        return f"must be at least {value}"
    if kind == "maximum":
        return f"must be at most {value}"
    if kind == "minLength":
        return "must not be empty" if value == 1 else f"must have at least {value} characters"
    if kind == "maxLength":
        return f"must have at most {value} characters"
    if kind == "minItems":
        return f"must have at least {value} item(s)"
    if kind == "maxItems":
        return f"must have at most {value} items"
    if kind == "pattern":
        return "has the wrong format"
    if kind == "format":
        return f"must be a valid {value}"
    return str(error.message)


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


def parse_query(operation: Operation, request: web.Request) -> dict[str, Any]:
    known = {param.name: param for param in operation.query}
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, raw in request.query.items():
        param = known.get(name)
        if param is None:
            errors[name] = "unknown query parameter"
            continue
        problem = unstorable_reason(raw)
        if problem is None and any(ord(character) < 0x20 for character in raw):
            problem = "must not contain control characters"
        if problem is not None:
            errors[name] = problem
            continue
        if param.schema.get("type") == "integer":
            if len(raw.strip().lstrip("+-")) > MAX_INTEGER_DIGITS:
                errors[name] = f"must be an integer of at most {MAX_INTEGER_DIGITS} digits"
                continue
            try:
                number = int(raw)
            except ValueError:
                errors[name] = "must be an integer"
                continue
            if number < param.schema.get("minimum", number) or number > param.schema.get(
                "maximum", number
            ):
                errors[name] = (
                    f"must be between {param.schema.get('minimum')} and "
                    f"{param.schema.get('maximum')}"
                )
                continue
            values[name] = number
        elif param.schema.get("type") == "boolean":
            if raw not in ("true", "false"):
                errors[name] = "must be true or false"
                continue
            values[name] = raw == "true"
        else:
            if len(raw) > param.schema.get("maxLength", 500):
                errors[name] = "is too long"
                continue
            if "enum" in param.schema and raw not in param.schema["enum"]:
                errors[name] = "must be one of " + ", ".join(param.schema["enum"])
                continue
            values[name] = raw
    if errors:
        raise BadRequest("the query string is invalid", errors=errors)
    return values


def page_json(page: Page) -> dict[str, Any]:
    items = [to_json(item) for item in page.items]
    return {
        "object": "list",
        "data": items,
        "has_more": page.has_more,
        "next_cursor": items[-1]["id"] if page.has_more and items else None,
    }


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
