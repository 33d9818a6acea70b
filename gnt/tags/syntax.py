"""Ganeti's tag rules, kept light (stdlib and `gnt.errors` only) so the CLI checks tags before it submits.

A tag is 1 to 128 characters of letters, digits and ``. + * / : @ - _``; an object holds at most
4096. The character set matters beyond looks: tags reach allocator requests, hook environments and
OS scripts, so nothing a shell would interpret may get in.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

from gnt.errors import ParameterError, TagError

__all__ = [
    "KIND_CLUSTER",
    "KIND_INSTANCE",
    "KIND_NODE",
    "KIND_NETWORK",
    "KIND_NODEGROUP",
    "MAX_TAGS_PER_OBJ",
    "MAX_TAG_LEN",
    "TAG_RE",
    "read_tags_file",
    "shown",
    "tag_problem",
    "validate_tag",
    "validate_tags",
]

KIND_CLUSTER, KIND_NODEGROUP, KIND_NODE, KIND_INSTANCE = "cluster", "nodegroup", "node", "instance"
KIND_NETWORK = "network"
MAX_TAG_LEN = 128
MAX_TAGS_PER_OBJ = 4096
TAG_RE = re.compile(r"^[\w.+*/:@-]+\Z")
#: a tag shown in an error message is cut here: a 1 MB tag must not come back as a 1 MB message
_SHOWN = 40


def tag_problem(tag: object) -> str | None:
    """Why `tag` is not a valid tag, in Ganeti's words, or None when it is valid."""
    if not isinstance(tag, str):
        return "Invalid tag type (not a string)"
    if len(tag) > MAX_TAG_LEN:
        return f"Tag too long (>{MAX_TAG_LEN} characters)"
    if not tag:
        return "Tags cannot be empty"
    if not TAG_RE.match(tag):
        return "Tag contains invalid characters"
    return None


def shown(tag: object) -> str:
    """A tag as error messages quote it: repr, cut to a few dozen characters."""
    text = repr(tag)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 4] + "...'"


def validate_tag(tag: object) -> None:
    """Raise TagError (Ganeti's message, then the tag) unless `tag` is a valid tag."""
    problem = tag_problem(tag)
    if problem is not None:
        raise TagError(f"{problem}: {shown(tag)}")


def validate_tags(tags: Iterable[object]) -> None:
    """Every tag of one request valid, and no more of them than one object may hold."""
    tags = list(tags)
    if len(tags) > MAX_TAGS_PER_OBJ:
        raise TagError(f"Too many tags: {len(tags)} given, an object holds at most {MAX_TAGS_PER_OBJ}")
    for tag in tags:
        validate_tag(tag)


def read_tags_file(path: str) -> list[str]:
    """Tags from `--from FILE` (one per line, '-' is stdin), as Ganeti reads them: each line stripped.

    Blank lines are skipped: a trailing empty line in a hand-edited file is not meant as a tag.
    """
    if path == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise ParameterError(f"Cannot read tags from {path}: {getattr(err, 'strerror', None) or err}") from None
    return [line.strip() for line in lines if line.strip()]
