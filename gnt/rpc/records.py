"""Strict decoding of RPC argument records: JSON in, typed dataclass out, or one clear error.

`gnt.serial.from_dict` is lenient on purpose (config objects written by older versions must load);
a node daemon must not be: it trusts the caller's certificate, never its arguments. `decode`
checks every field against the record's type hints (missing, unknown and wrongly typed keys, and
non-finite floats, are refused) and names the offending field (`instance.disks[0].size`).

The checker for each record class is compiled once from its type hints, so decoding a typical
call costs a few microseconds.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from gnt.errors import RpcArgumentError

T = TypeVar("T")
Converter = Callable[[Any, str], Any]
#: the widest integer a record field may hold (SQLite's and C's int64), so no OverflowError later
INT_LIMIT = 2**63


def decode(cls: type[T], data: Any, where: str = "") -> T:
    """Build record `cls` from JSON data; raise RpcArgumentError naming the bad field."""
    return _converter(cls)(data, where)  # type: ignore[no-any-return]


def _describe(value: Any) -> str:
    return type(value).__name__ if value is not None else "null"


def _fail(where: str, expected: str, value: Any) -> RpcArgumentError:
    return RpcArgumentError(f"{where or 'arguments'}: expected {expected}, got {_describe(value)}")


def _any(value: Any, where: str) -> Any:
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, "a string", value)
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, "an integer", value)
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise RpcArgumentError(f"{where}: {value} is out of range")
    return value


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, "a number", value)
    if not math.isfinite(value):
        raise RpcArgumentError(f"{where}: {value} is not a finite number")
    return float(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, "true or false", value)
    return value


_SCALARS: dict[Any, Converter] = {str: _str, int: _int, float: _float, bool: _bool, Any: _any, object: _any}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@cache
def _converter(tp: Any) -> Converter:  # noqa: C901 - one branch per supported type form
    if tp in _SCALARS:
        return _SCALARS[tp]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        nullable = len(options) < len(typing.get_args(tp))
        inner = [_converter(a) for a in options]
        return _union(inner, nullable, " or ".join(getattr(a, "__name__", str(a)) for a in options))
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        return _list(_converter(arg))
    if origin is dict:
        args = typing.get_args(tp)
        return _dict(_converter(args[1]) if len(args) == 2 else _any)
    if origin is typing.Literal:
        return _literal(typing.get_args(tp))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _record(tp)
    raise TypeError(f"RPC records cannot hold fields of type {tp!r}")


def _union(inner: list[Converter], nullable: bool, label: str) -> Converter:
    def convert(value: Any, where: str) -> Any:
        if value is None and nullable:
            return None
        for option in inner:
            try:
                return option(value, where)
            except RpcArgumentError:
                if len(inner) == 1:
                    raise
        raise _fail(where, label, value)

    return convert


def _list(item: Converter) -> Converter:
    def convert(value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise _fail(where, "a list", value)
        return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

    return convert


def _dict(item: Converter) -> Converter:
    def convert(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(where, "an object", value)
        if item is _any:
            return value
        return {k: item(v, f"{where}.{k}") for k, v in value.items()}

    return convert


def _literal(choices: tuple[Any, ...]) -> Converter:
    def convert(value: Any, where: str) -> Any:
        if value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
            raise RpcArgumentError(f"{where}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value

    return convert


def _record(cls: type) -> Converter:
    hints = _hints(cls)
    fields = dataclasses.fields(cls)
    converters = {f.name: _converter(hints[f.name]) for f in fields}
    required = frozenset(
        f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )

    def convert(value: Any, where: str) -> Any:
        if not isinstance(value, dict):
            raise _fail(where, f"a {cls.__name__} record", value)
        unknown = value.keys() - converters.keys()
        if unknown:
            raise RpcArgumentError(f"{where or cls.__name__}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        missing = required - value.keys()
        if missing:
            raise RpcArgumentError(f"{where or cls.__name__}: missing field(s) {', '.join(sorted(missing))}")
        prefix = f"{where}." if where else ""
        return cls(**{k: converters[k](v, prefix + k) for k, v in value.items()})

    return convert
