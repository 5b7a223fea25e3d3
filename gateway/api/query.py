"""Query parameters of the tenant API: declared per operation, checked all at once.

Every wrong parameter is reported in one 422 (`gateway.api.problems`), with the
same codes as body fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.api.problems import InvalidRequest
from kernel.text import MAX_INTEGER_DIGITS, unstorable_reason

JsonSchema = dict[str, Any]
MAX_PAGE = 100
DEFAULT_PAGE = 20


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: JsonSchema
    description: str = ""


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


def parse_query(params: tuple[QueryParam, ...], query: Mapping[str, str]) -> dict[str, Any]:
    """The declared parameters' values; InvalidRequest naming every wrong one."""
    known = {param.name: param for param in params}
    values: dict[str, Any] = {}
    errors: dict[str, tuple[str, str]] = {}
    for name, raw in query.items():
        param = known.get(name)
        if param is None:
            errors[name] = ("unknown_field", "unknown query parameter")
            continue
        try:
            values[name] = _value(param.schema, raw)
        except _Problem as problem:
            errors[name] = (problem.code, problem.message)
    if errors:
        raise InvalidRequest(errors, "the query string is invalid")
    return values


class _Problem(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message


def _value(schema: JsonSchema, raw: str) -> Any:
    problem = unstorable_reason(raw)
    if problem is None and any(ord(character) < 0x20 for character in raw):
        problem = "must not contain control characters"
    if problem is not None:
        raise _Problem("invalid_characters", problem)
    if schema.get("type") == "integer":
        return _integer(schema, raw)
    if schema.get("type") == "boolean":
        if raw not in ("true", "false"):
            raise _Problem("wrong_type", "must be true or false")
        return raw == "true"
    if len(raw) > schema.get("maxLength", 500):
        raise _Problem("too_long", "is too long")
    if "enum" in schema and raw not in schema["enum"]:
        raise _Problem("not_allowed", "must be one of " + ", ".join(schema["enum"]))
    return raw


def _integer(schema: JsonSchema, raw: str) -> int:
    if len(raw.strip().lstrip("+-")) > MAX_INTEGER_DIGITS:
        raise _Problem("too_long", f"must be an integer of at most {MAX_INTEGER_DIGITS} digits")
    try:
        number = int(raw)
    except ValueError:
        raise _Problem("wrong_type", "must be an integer") from None
    low, high = schema.get("minimum", number), schema.get("maximum", number)
    if not low <= number <= high:
        raise _Problem(
            "out_of_range", f"must be between {schema.get('minimum')} and {schema.get('maximum')}"
        )
    return number
