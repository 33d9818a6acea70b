"""`gnt-debug locks`: print the `lock` query resource as Ganeti's ListLocks does."""

from __future__ import annotations

import time
from typing import Any

from gnt.cli.common import client, resolve_fields
from gnt.cli.output import table

DEFAULT_FIELDS = ["name", "mode", "owner", "pending"]


def _cell(name: str, cell: list[Any]) -> str:
    status, value = cell
    if status != 0 or value is None or value == []:
        return "-"
    if name == "owner":
        return ",".join(value)
    if name == "pending":
        return ", ".join(f"{mode}:{','.join(owners)}" for mode, owners in value)
    return str(value)


def show_locks(output: str | None, no_headers: bool, separator: str | None, interval: int | None) -> None:
    fields = resolve_fields(output, DEFAULT_FIELDS)
    cl = client()
    while True:
        result = cl.get("/2/query/lock", fields=",".join(fields))
        names = [f["name"] for f in result["fields"]]
        headers = None if no_headers else [f["title"] for f in result["fields"]]
        rows = [[_cell(n, cell) for n, cell in zip(names, row, strict=True)] for row in result["data"]]
        for line in table(headers, rows, [False] * len(names), separator):
            print(line)
        if not interval:
            return
        print()
        time.sleep(interval)
