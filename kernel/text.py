"""Text and JSON from clients that PostgreSQL, terminals and parsers can take, or why not.

PostgreSQL's text type cannot hold U+0000 and UTF-8 cannot encode a lone
surrogate (U+D800-U+DFFF, which JSON's `\\ud800` escape can still produce):
either reaching the database was a 500. Python's JSON parser recurses per
nesting level and its int() refuses more than 4,300 digits (CVE-2020-10735):
a 50,000-deep array or a 5,000-digit number was a 500 too. These checks run
before anything is parsed further or stored, and say what is wrong.
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

# Deeper than any body the API defines (three levels) with room to spare.
MAX_JSON_DEPTH = 32
# Money is at most 10**12 minor units; 30 digits leaves room and stays far below int()'s limit.
MAX_INTEGER_DIGITS = 30

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# C0 and C1 controls and DEL: they move terminals' cursors and rewrite what operators read.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class InvalidText(ValueError):
    """Client text that cannot be taken; `errors` maps a field (dotted path) to what is wrong."""

    def __init__(self, message: str, *, errors: dict[str, str] | None = None) -> None:
        self.errors = dict(errors or {})
        super().__init__(message)


def unstorable_reason(text: str) -> str | None:
    """Why `text` cannot be stored (a NUL or a lone surrogate), or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain a NUL character (U+0000)"
    return f"must not contain a lone surrogate (U+{ord(found.group()):04X}): it is not Unicode text"


def control_character_reason(text: str) -> str | None:
    """Why `text` is no good as a name (a control character such as ESC), or None."""
    found = _CONTROL.search(text)
    if found is None:
        return unstorable_reason(text)
    return f"must not contain control characters (found U+{ord(found.group()):04X})"


def escape_controls(text: str) -> str:
    """`text` with control characters and lone surrogates shown as escapes, for terminals."""
    return re.sub(
        "[\x00-\x1f\x7f-\x9f\ud800-\udfff]", lambda found: f"\\u{ord(found.group()):04x}", text
    )


def request_target_problem(raw_target: str) -> str | None:
    """What is wrong with a request target (path and query, as sent) once percent-decoded.

    A NUL (%00) reaches PostgreSQL as text it cannot store, and bytes that are
    not UTF-8 (%FF, or %ED%A0%80, a UTF-8-encoded surrogate) are silently
    replaced by the URL parser: both are refused instead.
    """
    if "%" not in raw_target:
        return None
    decoded = urllib.parse.unquote_to_bytes(raw_target)
    if b"\x00" in decoded:
        return "the URL must not contain a NUL character (%00)"
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return "the URL is not valid UTF-8 once percent-decoded"
    return None


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise InvalidText(f"numbers may have at most {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidText(f"the number {text[:40]} is too large")
    return value


def _constant(name: str) -> Any:
    raise InvalidText(f"{name} is not a JSON number")


def parse_json(raw: bytes | str) -> Any:
    """Parse a client's JSON; raises InvalidText saying what is wrong (never RecursionError).

    Refused: invalid UTF-8, invalid JSON, nesting deeper than MAX_JSON_DEPTH,
    integers longer than MAX_INTEGER_DIGITS, NaN, Infinity and overflowing
    numbers, and NUL characters or lone surrogates in any string or key.
    """
    too_deep = f"the JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)"
    try:
        value = json.loads(raw, parse_int=_integer, parse_float=_finite, parse_constant=_constant)
    except UnicodeDecodeError:
        raise InvalidText("the body is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise InvalidText(
            f"the body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise InvalidText(too_deep) from None
    errors: dict[str, str] = {}
    for path, depth, text in _walk(value):
        if depth > MAX_JSON_DEPTH:
            raise InvalidText(too_deep)
        if text is not None:
            reason = unstorable_reason(text)
            if reason is not None:
                errors.setdefault(path or "body", reason)
    if errors:
        raise InvalidText("the body holds text that cannot be stored", errors=errors)
    return value


def _walk(value: Any) -> Iterator[tuple[str, int, str | None]]:
    """(dotted path, depth, the string there or None) for every node, without recursion."""
    stack: list[tuple[str, int, Any]] = [("", 0, value)]
    while stack:
        path, depth, node = stack.pop()
        if isinstance(node, dict):
            yield path, depth, None
            for key, item in node.items():
                child = f"{path}.{key}" if path else str(key)
                yield child, depth + 1, key
                stack.append((child, depth + 1, item))
        elif isinstance(node, list):
            yield path, depth, None
            stack.extend(
                (f"{path}.{index}" if path else str(index), depth + 1, item)
                for index, item in enumerate(node)
            )
        else:
            yield path, depth, node if isinstance(node, str) else None
