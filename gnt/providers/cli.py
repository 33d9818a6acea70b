"""The client's side of a search-path diagnose: run the diagnose opcode, print per-node statuses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gnt.cli.common import client, job_fields
from gnt.cli.jobs import run_ops

__all__ = ["print_node_statuses", "run_diagnose"]


def run_diagnose(op_id: str, fields: list[str], priority: str = "normal", names: list[str] | None = None) -> list[Any]:
    """The rows of one diagnose opcode (OP_OS_DIAGNOSE, OP_EXTSTORAGE_DIAGNOSE) run as a job."""
    op = {"OP_ID": op_id, "output_fields": fields, "names": names or [], **job_fields(False, priority)}
    return list(run_ops(client(), [op], quiet=True)[0])


def print_node_statuses(
    good: dict[str, str],
    bad: dict[str, str],
    order: Callable[[str], Any] | None = None,
    extra: dict[str, list[str]] | None = None,
) -> None:
    """``  Node: N, status: S`` for the nodes where the provider is valid, then the others, each
    sorted by `order`; `extra` lines follow their node's line."""
    for messages in (good, bad):
        for node in sorted(messages, key=order):
            print(f"  Node: {node}, status: {messages[node]}")
            for line in (extra or {}).get(node, []):
                print(line)
