"""Reading this node's ssconf files: the small read-only facts (master, nodes, ports) every node keeps.

The master writes them (`ssconf_write`); daemons and commands that run without the master (a node
daemon's start-up check, `gnt-cluster recover-config`) read them here.
"""

from __future__ import annotations

from gnt import paths


def read(key: str) -> str:
    """The value of one ssconf key, stripped; "" when this node has none (not in a cluster yet)."""
    try:
        with open(paths.ssconf_file(key)) as handle:
            return handle.read().strip()
    except OSError:
        return ""
