"""Query-string and body helpers shared by the client's modules (Ganeti's _Append*If and _SetItemIf)."""

from __future__ import annotations

from typing import Any

__all__ = ["Query", "flags", "set_if", "tags"]

Query = list[tuple[str, Any]]


def flags(dry_run: bool = False, force: bool = False, reason: str | None = None) -> Query:
    """The common query flags: `dry-run`, `force` and `reason`, each only when set."""
    query: Query = []
    if dry_run:
        query.append(("dry-run", 1))
    if force:
        query.append(("force", 1))
    if reason:
        query.append(("reason", reason))
    return query


def tags(names: list[str], dry_run: bool = False, reason: str | None = None) -> Query:
    """The query of a tag call: one `tag` per name, then the flags."""
    return [("tag", t) for t in names] + flags(dry_run, reason=reason)


def set_if(body: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """`body` with each optional field that is not None (a None field is left for the server's default)."""
    body.update((key, value) for key, value in optional.items() if value is not None)
    return body
