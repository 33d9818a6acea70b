"""JSON (de)serialisation of plain dataclasses, used for opcodes, config objects and RPC payloads.

Kept tiny on purpose: dataclasses with builtin-typed fields, nested dataclasses and lists/dicts of
them. Unknown keys are rejected so a typo in an API body is an error, not silently dropped data.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


_SCALARS = (str, int, float, bool, type(None))


def to_dict(obj: Any) -> Any:
    """Recursively turn dataclasses into JSON-ready dicts (hot on list queries: keep it cheap)."""
    if isinstance(obj, _SCALARS):
        return obj
    fields = getattr(type(obj), "__dataclass_fields__", None)
    # scalars are kept without a call: most values are, and an RPC may carry hundreds of disk specs
    if fields is not None:
        return {name: v if isinstance(v := getattr(obj, name), _SCALARS) else to_dict(v) for name in fields}
    if isinstance(obj, (list, tuple)):
        return [v if isinstance(v, _SCALARS) else to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: v if isinstance(v, _SCALARS) else to_dict(v) for k, v in obj.items()}
    return obj


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            return _convert(arg, value)
        return value
    if origin is list and isinstance(value, list):
        (arg,) = typing.get_args(tp) or (Any,)
        return [_convert(arg, v) for v in value]
    if origin is dict and isinstance(value, dict):
        args = typing.get_args(tp)
        vt = args[1] if len(args) == 2 else Any
        return {k: _convert(vt, v) for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return from_dict(tp, value)
    return value


def from_dict(cls: type[T], data: dict[str, Any], *, strict: bool = False) -> T:
    """Build a dataclass from a dict; with `strict`, unknown keys raise ValueError."""
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if strict and unknown:
        raise ValueError(f"unknown field(s) for {cls.__name__}: {', '.join(sorted(unknown))}")
    kwargs = {k: _convert(hints[k], v) for k, v in data.items() if k in names}
    return cls(**kwargs)


def dumps(obj: Any) -> str:
    return json.dumps(to_dict(obj), separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    return json.loads(text)
