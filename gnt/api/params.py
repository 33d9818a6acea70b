"""Reading RAPI requests safely: bounded bodies, bounded JSON, typed parameters.

Every malformed request is an `ApiError` with a 4xx status here, before a handler looks at it,
so a handler never meets a value of the wrong type (the RAPI's promise: no input reaches a 500).

Limits (documented in doc/rapi.md):
- a body larger than the app's `client_max_size` is 413;
- a body not fully received within `BODY_TIMEOUT` seconds is 408 and the connection is closed;
- JSON nested deeper than `MAX_JSON_DEPTH`, with a key given twice, with NaN/Infinity or a
  number outside int64 / finite floats is 400.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

from aiohttp import web

from gnt.errors import ApiError

__all__ = [
    "BODY_TIMEOUT",
    "HEADER_TIMEOUT",
    "MAX_JSON_DEPTH",
    "bad_request",
    "check_kind",
    "body_field",
    "parse_json",
    "query_flag",
    "read_json",
]

#: seconds a client has to send its request line and headers (aiohttp's keep-alive timer)
HEADER_TIMEOUT = 10.0
#: seconds a client has to send a whole body once its headers arrived
BODY_TIMEOUT = 10.0
#: deeper JSON is refused before it is parsed (Python's parser would recurse once per level)
MAX_JSON_DEPTH = 32

#: a JSON string (running to the end of the text if unterminated, so no match is ever retried) or a bracket;
#: one linear pass: a pattern that could fail inside a string would rescan from every quote (quadratic)
_TOKEN_RE = re.compile(r'"(?:[^"\\]+|\\.)*+(?:"|\\?\Z)|[\[\]{}]', re.S)
_TRUE, _FALSE = ("1", "true", "True", "yes"), ("0", "false", "False", "no")


def bad_request(message: str) -> ApiError:
    return ApiError(message, 400)


def _depth(text: str) -> int:
    """How deep brackets nest outside strings, found before the (recursive) JSON parser runs."""
    deepest = depth = 0
    for match in _TOKEN_RE.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                break
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key '{key[:80]}' given twice")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def parse_json(raw: bytes) -> Any:
    """Decode a request body; raises ApiError(400) for anything that is not sane JSON."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("Request body is not valid UTF-8") from None
    if _depth(text) > MAX_JSON_DEPTH:
        raise bad_request(f"Request body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except ValueError as err:  # JSONDecodeError, duplicate keys, int beyond 4300 digits, ...
        raise bad_request(f"Request body is not valid JSON: {str(err)[:200]}") from None


async def read_json(request: web.Request) -> Any:
    """The request's JSON body (None when there is none), read within BODY_TIMEOUT."""
    if not request.can_read_body:
        return None
    try:
        raw = await asyncio.wait_for(request.read(), BODY_TIMEOUT)
    except TimeoutError:
        raise ApiError(f"Request body not received within {BODY_TIMEOUT:g} seconds", 408) from None
    if not raw.strip():
        return None
    return parse_json(raw)


def query_flag(request: web.Request, name: str) -> bool | None:
    """A boolean query parameter ('1'/'0', as Ganeti's clients send); None when absent."""
    raw = request.query.get(name)
    if raw is None and "-" in name:
        raw = request.query.get(name.replace("-", "_"))
    if raw is None:
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise bad_request(f"Invalid value {raw[:40]!r} for query parameter '{name}': expected 0 or 1")


_KINDS: dict[str, tuple[tuple[type, ...], str]] = {
    "int": ((int,), "an integer"),
    "number": ((int, float), "a number"),
    "str": ((str,), "a string"),
    "bool": ((bool,), "a boolean"),
    "list": ((list,), "a list"),
    "dict": ((dict,), "an object"),
}


def check_kind(value: Any, kind: str, what: str) -> Any:
    """`value` if it is of `kind` (bool never counts as a number), else ApiError(400)."""
    types, text = _KINDS[kind]
    ok = isinstance(value, types) and not (kind in ("int", "number") and isinstance(value, bool))
    if not ok:
        raise bad_request(f"{what} must be {text}, not {json.dumps(value)[:80]}")
    return value


def body_field(body: dict[str, Any], key: str, kind: str, default: Any = None) -> Any:
    """body[key] checked against `kind`; `default` when absent or null."""
    value = body.get(key)
    if value is None:
        return default
    return check_kind(value, kind, f"'{key}'")
