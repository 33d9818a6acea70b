"""Query fields: what `list -o` and RAPI `fields=` can ask for, declared once per object type.

Each field has Ganeti's name, title and kind; its getter reads the config object and, for live
fields, the data the master fetched from nodes in one batched RPC per node. Values travel as
Ganeti's `[status, value]` pairs, so "no data from the node" is distinct from "not applicable".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gnt.errors import ECODE_INVAL, OpPrereqError

RS_NORMAL, RS_UNKNOWN, RS_NODATA, RS_UNAVAIL, RS_OFFLINE = 0, 1, 2, 3, 4


class Unavailable(Exception):
    """Raised by a getter when the value does not apply (e.g. memory of a stopped instance)."""


class NoData(Exception):
    """Raised by a getter when live data was wanted but the node did not answer."""


class Offline(Exception):
    """Raised by a getter when the node is marked offline."""


@dataclass(frozen=True)
class Field:
    name: str
    title: str
    kind: str  # text | number | unit | bool | other | timestamp
    doc: str
    getter: Callable[[Any, Any], Any]
    live: bool = False

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "title": self.title, "kind": self.kind, "doc": self.doc}


def evaluate(fields: list[Field], items: list[Any], ctx: Any) -> list[list[list[Any]]]:
    rows = []
    for item in items:
        row = []
        for fld in fields:
            try:
                row.append([RS_NORMAL, fld.getter(item, ctx)])
            except Unavailable:
                row.append([RS_UNAVAIL, None])
            except NoData:
                row.append([RS_NODATA, None])
            except Offline:
                row.append([RS_OFFLINE, None])
        rows.append(row)
    return rows


def select(available: dict[str, Field], names: list[str]) -> list[Field]:
    unknown = [n for n in names if n not in available]
    if unknown:
        raise OpPrereqError(f"Unknown output fields selected: {', '.join(unknown)}", ECODE_INVAL)
    return [available[n] for n in names]


def as_dicts(fields: list[Field], rows: list[list[list[Any]]]) -> list[dict[str, Any]]:
    """RAPI bulk form: {field: value} per item (None where no value)."""
    return [{f.name: cell[1] for f, cell in zip(fields, row, strict=True)} for row in rows]
