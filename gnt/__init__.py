"""gnt: a Ganeti-like, CLI-first cluster virtualization toolkit."""

__version__ = "0.1.0"

# Interface versions, reported by `gnt-cluster version` and /2/info like Ganeti's.
PROTOCOL_VERSION = 100
CONFIG_VERSION = 100
OS_API_VERSION = 20
EXPORT_VERSION = 0
