"""Where each opcode is reachable: its RAPI routes and its CLI commands, declared once per opcode.

The opcode dataclasses (`gnt.opcodes` and the per-area opcode modules) say *what* a request may
carry; this table says *where* it comes in. Each entry names an opcode, the RAPI method+path pairs
that submit it (with Ganeti's mapping of path variables, query parameters and body aliases onto the
opcode's fields) and the CLI commands that submit it. A route whose handler is a plain
"body -> opcode -> submit" is *derived* from its declaration (`gnt.api.declared_routes`): adding
the entry adds the route, and the OpenAPI document reads the same declaration. A route that needs
Ganeti's own semantics (a versioned body, a bare-string body, a job of several opcodes, query
parameters that are not opcode fields) keeps a hand-written handler and says so here (`custom`).

An opcode with no route or no command carries the reason (`no_rapi`, `no_cli`), checked against
Ganeti 3.0's RAPI and CLI; tests/unit/test_surface.py walks the opcode registry and fails on any
opcode that is neither reachable nor explained, and on any declared route or command that does not
submit its opcode.

This module is plain data (no import of the opcodes): the CLI may read it without paying the
opcode declarations' import cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["INSTANCE_ACTION_QUERY", "SURFACES", "Route", "Surface", "by_op", "routes"]


@dataclass(frozen=True)
class Route:
    """One RAPI method+path that submits an opcode (or answers its question directly: `job=False`).

    Attributes:
        method: the HTTP method.
        path: aiohttp's canonical path, `{var}` for path variables.
        names: path variable -> the opcode field it fills (it wins over the body).
        flags: opcode bool fields also taken from the query string (`?force=1`; `_` spelled `-`).
        texts: query parameter -> opcode field, taken as a string (`?type=hard` -> reboot_type).
        aliases: Ganeti's body key -> the opcode field it stands for (its rlib2 renames them).
        body: whether the JSON body carries the opcode's fields.
        custom: why a hand-written handler serves this route ("" when the route is derived).
        job: False when the route answers from the master's state without submitting the opcode.
    """

    method: str
    path: str
    names: Mapping[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    texts: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    body: bool = True
    custom: str = ""
    job: bool = True

    @property
    def derived(self) -> bool:
        return not self.custom


@dataclass(frozen=True)
class Surface:
    """An opcode's RAPI routes and CLI commands ("gnt-node modify"), or why it has none."""

    op_id: str
    rapi: tuple[Route, ...] = ()
    cli: tuple[str, ...] = ()
    no_rapi: str = ""
    no_cli: str = ""
    #: False when the commands answer from a query or the config without submitting the opcode
    cli_job: bool = True


def _on(prefix: str, var_field: str) -> Callable[..., Route]:
    """A route maker for paths under `prefix/{name}` whose `{name}` fills `var_field`."""

    def make(method: str, suffix: str = "", **kw: Any) -> Route:
        return Route(method, f"{prefix}/{{name}}{suffix}", **{"names": {"name": var_field}, **kw})

    return make


_inst = _on("/2/instances", "instance_name")
_node = _on("/2/nodes", "node_name")
_group = _on("/2/groups", "group_name")
_net = _on("/2/networks", "network_name")

#: the query parameters every instance action of Ganeti's rlib2 reads (kept as gnt served them before
#: the table: one set for all, so `?cleanup=1` on a startup is refused by the opcode, not ignored)
INSTANCE_ACTION_QUERY: dict[str, Any] = {
    "flags": ("force", "no_remember", "cleanup"),
    "texts": {"type": "reboot_type", "mode": "mode"},
}
_TAG_PATHS = (
    "/2/tags",
    "/2/groups/{name}/tags",
    "/2/nodes/{name}/tags",
    "/2/instances/{name}/tags",
    "/2/networks/{name}/tags",
)
_TAGS_CUSTOM = "the object kind comes from the path and the tags from repeated ?tag= parameters"
_TAG_TOOLS = ("gnt-cluster", "gnt-node", "gnt-group", "gnt-network", "gnt-instance")
_GANETI_NO_RAPI = "Ganeti 3.0's RAPI has no resource for it (rapi.txt)"
_DEBUG_ONLY = "a gnt-debug test opcode; Ganeti's RAPI has none (rapi.txt)"

SURFACES: tuple[Surface, ...] = (
    # --- cluster ---------------------------------------------------------------------------------
    Surface("OP_CLUSTER_SET_PARAMS", (Route("PUT", "/2/modify"),), ("gnt-cluster modify", "gnt-os modify")),
    Surface(
        "OP_CLUSTER_REDIST_CONF", (Route("PUT", "/2/redistribute-config", body=False),), ("gnt-cluster redist-conf",)
    ),
    Surface("OP_CLUSTER_VERIFY", cli=("gnt-cluster verify",), no_rapi=_GANETI_NO_RAPI),
    Surface("OP_CLUSTER_VERIFY_DISKS", cli=("gnt-cluster verify-disks",), no_rapi=_GANETI_NO_RAPI),
    Surface("OP_CLUSTER_REPAIR_DISK_SIZES", cli=("gnt-cluster repair-disk-sizes",), no_rapi=_GANETI_NO_RAPI),
    Surface("OP_CLUSTER_RENAME", cli=("gnt-cluster rename",), no_rapi=_GANETI_NO_RAPI),
    Surface("OP_CLUSTER_RENEW_CRYPTO", cli=("gnt-cluster renew-crypto",), no_rapi=_GANETI_NO_RAPI),
    Surface("OP_CLUSTER_ACTIVATE_MASTER_IP", cli=("gnt-cluster activate-master-ip",), no_rapi=_GANETI_NO_RAPI),
    Surface("OP_CLUSTER_DEACTIVATE_MASTER_IP", cli=("gnt-cluster deactivate-master-ip",), no_rapi=_GANETI_NO_RAPI),
    Surface(
        "OP_CLUSTER_DESTROY",
        cli=("gnt-cluster destroy",),
        no_rapi="destroying the cluster is a local, console-only act in Ganeti too (no RAPI resource)",
    ),
    Surface(
        "OP_CLUSTER_POST_INIT",
        cli=("gnt-cluster init",),
        no_rapi="submitted by gnt-cluster init on the new master, before any RAPI daemon runs",
    ),
    # --- nodes -----------------------------------------------------------------------------------
    Surface(
        "OP_NODE_ADD",
        cli=("gnt-node add",),
        no_rapi="adding a node needs SSH and host-key confirmation on the master; Ganeti's RAPI has none",
    ),
    Surface("OP_NODE_REMOVE", cli=("gnt-node remove",), no_rapi=_GANETI_NO_RAPI),
    Surface(
        "OP_NODE_SET_PARAMS",
        (
            _node("POST", "/modify", flags=("force", "auto_promote")),
            _node("PUT", "/role", body=False, custom="the body is the role as a bare JSON string (Ganeti's)"),
        ),
        ("gnt-node modify",),
    ),
    Surface("OP_NODE_MIGRATE", (_node("POST", "/migrate"),), ("gnt-node migrate",)),
    Surface("OP_NODE_EVACUATE", (_node("POST", "/evacuate"),), ("gnt-node evacuate",)),
    Surface(
        "OP_NODE_POWERCYCLE", (_node("POST", "/powercycle", body=False, flags=("force",)),), ("gnt-node powercycle",)
    ),
    Surface(
        "OP_NODE_QUERY_STORAGE",
        (
            _node(
                "GET",
                "/storage",
                names={"name": "nodes"},
                custom="a GET: storage_type and a comma-separated output_fields in the query",
            ),
        ),
        ("gnt-node list-storage",),
    ),
    Surface(
        "OP_NODE_MODIFY_STORAGE",
        (_node("PUT", "/storage/modify", custom="the query's allocatable flag becomes the opcode's changes dict"),),
        ("gnt-node modify-storage",),
    ),
    Surface(
        "OP_REPAIR_NODE_STORAGE",
        (_node("PUT", "/storage/repair", custom="storage_type and name are required query parameters"),),
        ("gnt-node repair-storage",),
    ),
    Surface("OP_NODE_QUERYVOLS", cli=("gnt-node volumes",), no_rapi=_GANETI_NO_RAPI),
    Surface("OP_OOB_COMMAND", cli=("gnt-node power", "gnt-node health"), no_rapi=_GANETI_NO_RAPI),
    Surface("OP_RESTRICTED_COMMAND", cli=("gnt-node restricted-command",), no_rapi=_GANETI_NO_RAPI),
    # --- node groups -----------------------------------------------------------------------------
    Surface("OP_GROUP_ADD", (Route("POST", "/2/groups", aliases={"name": "group_name"}),), ("gnt-group add",)),
    Surface("OP_GROUP_REMOVE", (_group("DELETE"),), ("gnt-group remove",)),
    Surface("OP_GROUP_RENAME", (_group("PUT", "/rename"),), ("gnt-group rename",)),
    Surface("OP_GROUP_SET_PARAMS", (_group("PUT", "/modify"),), ("gnt-group modify",)),
    Surface("OP_GROUP_ASSIGN_NODES", (_group("PUT", "/assign-nodes", flags=("force",)),), ("gnt-group assign-nodes",)),
    Surface("OP_GROUP_EVACUATE", cli=("gnt-group evacuate",), no_rapi=_GANETI_NO_RAPI),
    # --- networks --------------------------------------------------------------------------------
    Surface("OP_NETWORK_ADD", (Route("POST", "/2/networks", aliases={"name": "network_name"}),), ("gnt-network add",)),
    Surface("OP_NETWORK_REMOVE", (_net("DELETE"),), ("gnt-network remove",)),
    Surface("OP_NETWORK_SET_PARAMS", (_net("PUT", "/modify"),), ("gnt-network modify",)),
    Surface("OP_NETWORK_CONNECT", (_net("PUT", "/connect"),), ("gnt-network connect",)),
    Surface("OP_NETWORK_DISCONNECT", (_net("PUT", "/disconnect"),), ("gnt-network disconnect",)),
    Surface(
        "OP_NETWORK_QUERY",
        (
            Route("GET", "/2/networks", custom="a read: answered from the config", job=False),
            _net("GET", names={"name": "names"}, custom="a read: answered from the config", job=False),
        ),
        ("gnt-network list", "gnt-network info"),
        cli_job=False,
    ),
    # --- instances -------------------------------------------------------------------------------
    Surface(
        "OP_INSTANCE_CREATE",
        (
            Route(
                "POST",
                "/2/instances",
                aliases={"name": "instance_name", "os": "os_type"},
                custom="Ganeti's instance-create-reqv1: the body's __version__ is checked and dropped",
            ),
        ),
        ("gnt-instance add", "gnt-backup import"),
    ),
    Surface(
        "OP_INSTANCE_MULTI_ALLOC",
        (Route("POST", "/2/instances-multi-alloc", custom="each instance body has Ganeti's aliases (os, name)"),),
        ("gnt-instance batch-create",),
    ),
    Surface("OP_INSTANCE_REMOVE", (_inst("DELETE", body=False, flags=("ignore_failures",)),), ("gnt-instance remove",)),
    Surface("OP_INSTANCE_STARTUP", (_inst("PUT", "/startup", **INSTANCE_ACTION_QUERY),), ("gnt-instance startup",)),
    Surface("OP_INSTANCE_SHUTDOWN", (_inst("PUT", "/shutdown", **INSTANCE_ACTION_QUERY),), ("gnt-instance shutdown",)),
    Surface("OP_INSTANCE_REBOOT", (_inst("POST", "/reboot", **INSTANCE_ACTION_QUERY),), ("gnt-instance reboot",)),
    Surface("OP_INSTANCE_MIGRATE", (_inst("PUT", "/migrate", **INSTANCE_ACTION_QUERY),), ("gnt-instance migrate",)),
    Surface("OP_INSTANCE_FAILOVER", (_inst("PUT", "/failover", **INSTANCE_ACTION_QUERY),), ("gnt-instance failover",)),
    Surface("OP_INSTANCE_SET_PARAMS", (_inst("PUT", "/modify", **INSTANCE_ACTION_QUERY),), ("gnt-instance modify",)),
    Surface(
        "OP_INSTANCE_ACTIVATE_DISKS",
        (
            _inst(
                "PUT",
                "/activate-disks",
                flags=(*INSTANCE_ACTION_QUERY["flags"], "ignore_size", "wait_for_sync"),
                texts=INSTANCE_ACTION_QUERY["texts"],
            ),
        ),
        ("gnt-instance activate-disks",),
    ),
    Surface(
        "OP_INSTANCE_DEACTIVATE_DISKS",
        (_inst("PUT", "/deactivate-disks", **INSTANCE_ACTION_QUERY),),
        ("gnt-instance deactivate-disks",),
    ),
    Surface(
        "OP_INSTANCE_RECREATE_DISKS",
        (_inst("POST", "/recreate-disks", **INSTANCE_ACTION_QUERY),),
        ("gnt-instance recreate-disks",),
    ),
    Surface(
        "OP_INSTANCE_GROW_DISK",
        (
            Route("POST", "/2/instances/{name}/disk/{disk}/grow", custom="the path's disk index must be ASCII digits"),
            Route("POST", "/2/instances/{name}/disks/{disk}/grow", custom="the path's disk index must be ASCII digits"),
        ),
        ("gnt-instance grow-disk",),
    ),
    Surface(
        "OP_INSTANCE_REPLACE_DISKS",
        (_inst("POST", "/replace-disks", custom="disks may come as a comma-separated string in the query or body"),),
        ("gnt-instance replace-disks",),
    ),
    Surface("OP_INSTANCE_RENAME", (_inst("PUT", "/rename"),), ("gnt-instance rename",)),
    Surface(
        "OP_INSTANCE_REINSTALL",
        (_inst("POST", "/reinstall", custom="instance-reinstall-reqv1: one job of shutdown, reinstall, startup"),),
        ("gnt-instance reinstall",),
    ),
    Surface("OP_INSTANCE_CHANGE_GROUP", (_inst("PUT", "/change-group"),), ("gnt-instance change-group",)),
    Surface(
        "OP_INSTANCE_QUERY_DATA",
        (
            _inst(
                "GET",
                "/info",
                names={"name": "instances"},
                custom="a GET that queues a job: instances is a list of the path's one name",
            ),
        ),
        ("gnt-instance info",),
    ),
    Surface("OP_INSTANCE_MOVE", cli=("gnt-instance move",), no_rapi=_GANETI_NO_RAPI),
    # --- export / import -------------------------------------------------------------------------
    Surface(
        "OP_BACKUP_EXPORT",
        (_inst("PUT", "/export", custom="Ganeti's 'destination' alias has its own both-given message"),),
        ("gnt-backup export",),
    ),
    Surface(
        "OP_BACKUP_PREPARE",
        (_inst("PUT", "/prepare-export", custom="mode is a required query parameter and there is no body"),),
        no_cli="Ganeti's gnt-backup has no prepare command: the RAPI's inter-cluster moves use it (commands.txt)",
    ),
    Surface("OP_BACKUP_QUERY", cli=("gnt-backup list",), no_rapi=_GANETI_NO_RAPI),
    Surface("OP_BACKUP_REMOVE", cli=("gnt-backup remove",), no_rapi=_GANETI_NO_RAPI),
    # --- OS and storage providers ----------------------------------------------------------------
    Surface(
        "OP_OS_DIAGNOSE",
        (Route("GET", "/2/os", custom="a read: the master collects the nodes' OS lists without a job", job=False),),
        ("gnt-os list", "gnt-os diagnose", "gnt-os info"),
    ),
    Surface("OP_EXTSTORAGE_DIAGNOSE", cli=("gnt-storage diagnose", "gnt-storage info"), no_rapi=_GANETI_NO_RAPI),
    # --- tags ------------------------------------------------------------------------------------
    Surface(
        "OP_TAGS_SET",
        tuple(Route("PUT", p, custom=_TAGS_CUSTOM) for p in _TAG_PATHS),
        tuple(f"{tool} add-tags" for tool in _TAG_TOOLS),
    ),
    Surface(
        "OP_TAGS_DEL",
        tuple(Route("DELETE", p, custom=_TAGS_CUSTOM) for p in _TAG_PATHS),
        tuple(f"{tool} remove-tags" for tool in _TAG_TOOLS),
    ),
    Surface(
        "OP_TAGS_GET",
        tuple(Route("GET", p, custom="a read: the tags come from the config", job=False) for p in _TAG_PATHS),
        tuple(f"{tool} list-tags" for tool in _TAG_TOOLS),
        cli_job=False,
    ),
    Surface("OP_TAGS_SEARCH", cli=("gnt-cluster search-tags",), no_rapi=_GANETI_NO_RAPI),
    # --- debugging -------------------------------------------------------------------------------
    Surface("OP_TEST_DELAY", cli=("gnt-debug delay",), no_rapi=_DEBUG_ONLY),
    Surface("OP_TEST_ALLOCATOR", cli=("gnt-debug iallocator",), no_rapi=_DEBUG_ONLY),
    Surface("OP_TEST_JQUEUE", cli=("gnt-debug test-jobqueue",), no_rapi=_DEBUG_ONLY),
    Surface("OP_TEST_OS_PARAMS", cli=("gnt-debug test-osparams",), no_rapi=_DEBUG_ONLY),
)


def by_op() -> dict[str, Surface]:
    """Opcode id -> its declaration."""
    return {s.op_id: s for s in SURFACES}


def routes() -> list[tuple[str, Route]]:
    """Every declared (opcode id, route), in declaration order."""
    return [(s.op_id, r) for s in SURFACES for r in s.rapi]
