"""Transport compression of node-to-node disk streams (moves, exports, imports) and the cluster's
list of allowed tools (`gnt-cluster init/modify --compression-tools`, Ganeti's compression_tools).

Ganeti runs each listed tool as a command on the nodes; gnt's streams compress in the node daemon
itself, so the tools it can use are those it implements: Ganeti's three gzip tools (gzip at its
default level, gzip-fast at 1, gzip-slow at 9). A list naming anything else is refused rather than
stored and failed later. The list follows Ganeti's rules too: names of letters, digits, dashes and
underscores, gzip always in it, `none` reserved for no compression. A move, export or import asks
for one tool (or none), which must be in the list.
"""

from __future__ import annotations

import re

__all__ = ["DEFAULT_TOOLS", "LEVELS", "NONE", "TRANSPORTS", "check_allowed", "check_tools"]

NONE = "none"
#: zlib level of each tool gnt implements (Ganeti's gzip, gzip-fast and gzip-slow: gzip, -1, -9)
LEVELS = {"gzip": 6, "gzip-fast": 1, "gzip-slow": 9}
#: Ganeti's default list (IEC_DEFAULT_TOOLS), which is every tool gnt has
DEFAULT_TOOLS = ["gzip", "gzip-fast", "gzip-slow"]
#: what a stream may be asked for: no compression or one of the tools
TRANSPORTS = (NONE, *LEVELS)
_NAME = re.compile(r"^[-_a-zA-Z0-9]+$")


def check_tools(tools: list[str]) -> None:
    """Refuse a compression-tools list as Ganeti does (ValueError), and tools gnt cannot run."""
    illegal = [t for t in tools if not _NAME.match(t)]
    if illegal:
        raise ValueError(
            f"The tools '{', '.join(illegal)}' contain illegal characters: only alphanumeric values,"
            " dashes, and underscores are allowed"
        )
    if "gzip" not in tools:
        raise ValueError("For compatibility reasons, the gzip utility must be present among the compression tools")
    if NONE in tools:
        raise ValueError(
            f"{NONE} is a reserved value used for no compression, and cannot be used as the name of a tool"
        )
    unknown = [t for t in tools if t not in LEVELS]
    if unknown:
        raise ValueError(
            f"Unsupported compression tool(s) {', '.join(unknown)}: gnt's transports compress with"
            f" {', '.join(LEVELS)} only"
        )


def check_allowed(tool: str, allowed: list[str]) -> str | None:
    """Ganeti's refusal of a transport compression the cluster's list does not allow, or None."""
    if tool != NONE and tool not in allowed:
        return f"Compression tool not allowed, tools allowed are [{', '.join(allowed)}]"
    return None
