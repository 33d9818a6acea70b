"""Tables and field formatting as Ganeti's CLI prints them."""

from __future__ import annotations

import time
from typing import Any

from gnt.units import format_size

#: Ganeti's RSS_DESCRIPTION: a query cell's status (RS_UNKNOWN, RS_NODATA, RS_UNAVAIL, RS_OFFLINE)
#: as a mark, and in words with a list command's -v
UNAVAILABLE = {1: "??", 2: "?", 3: "-", 4: "*"}
UNAVAILABLE_VERBOSE = {1: "(unknown)", 2: "(nodata)", 3: "(unavail)", 4: "(offline)"}


def format_value(kind: str, value: Any, units: str) -> str:
    if value is None:
        return "-"
    if kind == "bool":
        return "Y" if value else "N"
    if kind == "unit":
        return format_size(value, units)
    if kind == "timestamp":
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(value)))
    if isinstance(value, list):
        return ",".join("-" if v is None else str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


def format_cell(kind: str, cell: list[Any], units: str, verbose: bool = False) -> str:
    status, value = cell
    if status != 0:
        return (UNAVAILABLE_VERBOSE if verbose else UNAVAILABLE).get(status, "?")
    return format_value(kind, value, units)


def _verbose() -> bool:
    """Whether the running list command was given -v (gnt.cli.common.list_options)."""
    import click

    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get("gnt.verbose_list"))


def table(headers: list[str] | None, rows: list[list[str]], numeric: list[bool], separator: str | None) -> list[str]:
    """Aligned columns (numbers right-aligned), or raw cells joined by `separator`."""
    if separator is not None:
        lines = [separator.join(headers)] if headers else []
        return lines + [separator.join(r) for r in rows]
    all_rows = ([headers] if headers else []) + rows
    if not all_rows:
        return []
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    lines = []
    for row in all_rows:
        cells = []
        for i, cell in enumerate(row):
            last = i == len(row) - 1
            if numeric[i]:
                cells.append(cell.rjust(widths[i]))
            else:
                cells.append(cell if last else cell.ljust(widths[i]))
        lines.append(" ".join(cells).rstrip())
    return lines


def print_query(result: dict[str, Any], no_headers: bool, separator: str | None, units: str | None) -> None:
    fields = result["fields"]
    units = units or ("m" if separator is not None else "h")
    verbose = _verbose()
    rows = [
        [format_cell(f["kind"], cell, units, verbose) for f, cell in zip(fields, row, strict=True)]
        for row in result["data"]
    ]
    headers = None if no_headers else [f["title"] for f in fields]
    numeric = [f["kind"] in ("number", "unit") for f in fields]
    for line in table(headers, rows, numeric, separator):
        print(line)


def print_fields(fields: list[dict[str, str]], separator: str | None, no_headers: bool) -> None:
    rows = [[f["name"], f["title"], f["doc"]] for f in fields]
    for line in table(None if no_headers else ["Name", "Title", "Description"], rows, [False] * 3, separator):
        print(line)


def print_tree(data: Any, indent: int = 0) -> None:
    """Ganeti's `info` layout: `key: value`, nested dicts and lists indented by two spaces."""
    pad = "  " * indent
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                print(f"{pad}{key}: ")
                print_tree(value, indent + 1)
            elif isinstance(value, (dict, list)):
                print(f"{pad}{key}: ")
            else:
                print(f"{pad}{key}: {value}")
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                first = True
                for key, value in item.items():
                    lead = "- " if first else "  "
                    first = False
                    if isinstance(value, (dict, list)) and value:
                        print(f"{pad}{lead}{key}: ")
                        print_tree(value, indent + 2)
                    else:
                        print(f"{pad}{lead}{key}: {'' if isinstance(value, (dict, list)) else value}")
            else:
                print(f"{pad}- {item}")
