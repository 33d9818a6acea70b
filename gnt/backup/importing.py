"""OP_INSTANCE_CREATE in import mode (`gnt-backup import`, `gnt-instance add --src-node --src-dir`).

Called by `gnt.instance.create.LUInstanceCreate` at two points, so creation itself stays in one
place: `read_source` (check_prereq) finds the export, reads its config.ini and fills in what the
opcode left empty (disk template, disks, NICs, OS, parameters, tags), as Ganeti does; `copy_in`
(exec, instead of the OS create script) streams each disk's dump from the export's node into the
new disk. If that fails, the create LU's own undo removes the new disks and the config entry.
The export is named by the instance's name (Ganeti's relative src_path) or by its cluster-wide
directory under the export dir; nothing else is accepted, and the node checks the name again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gnt import confine, disktypes
from gnt.backup import exportcfg
from gnt.backup.copy import End, copy_disk
from gnt.errors import ECODE_INVAL, ECODE_NOENT, OpPrereqError
from gnt.objects import Node
from gnt.rpc import procedures as proc

if TYPE_CHECKING:
    from gnt.jobs.lu import LogicalUnit

MODE_IMPORT = "import"
#: the export directory as the cluster names it (each node localizes it; gnt.paths.export_dir)
EXPORT_DIR = "/srv/gnt/export"
#: "no default for this key": a parameter the defaults lack is always kept
_UNSET = object()


@dataclass
class ImportSource:
    node: Node
    name: str
    info: exportcfg.ExportInfo


def export_name(src_path: str | None, instance_name: str) -> str:
    """The export an import reads: src_path as a name, or `EXPORT_DIR/NAME`; the instance's name by default."""
    path = src_path or instance_name
    if os.path.isabs(path):
        if os.path.dirname(os.path.normpath(path)) != EXPORT_DIR or "/../" in path + "/":
            raise OpPrereqError(f"The export directory {path} is not inside {EXPORT_DIR}", ECODE_INVAL)
        path = os.path.basename(os.path.normpath(path))
    if not confine.INSTANCE_NAME_RE.match(path):
        raise OpPrereqError(f"Invalid export name '{path[:80]}'", ECODE_INVAL)
    return path


def _value(text: str) -> Any:
    """An ini value back as the type the parameter checks want: booleans and integers, else the text."""
    if text in ("True", "False"):
        return text == "True"
    if text.lstrip("-").isdigit():
        return int(text)
    return text


async def read_source(lu: LogicalUnit, op: Any) -> ImportSource:
    """Find and read the export, and fill `op`'s empty fields from it."""
    name = export_name(op.src_path, op.instance_name)
    node = await _find_export(lu, op.src_node, name)
    text = (await lu.rpc.export_info(lu.ctx.services.target(node), proc.ExportNameArgs(name))).get(
        f"No export or invalid export found for {name}"
    )
    info = exportcfg.read_export(text)
    op.disk_template = op.disk_template or info.disk_template
    if disktypes.kind(op.disk_template).needs_secondary:
        raise OpPrereqError(f"Importing into disk template {op.disk_template} is not supported", ECODE_INVAL)
    if not op.disks:
        op.disks = [dict(d) for d in info.disks]
    for index, (given, exported) in enumerate(zip(op.disks, info.disks, strict=False)):
        if isinstance(given, dict) and isinstance(given.get("size"), int) and given["size"] < exported["size"]:
            raise OpPrereqError(
                f"Disk {index} ({given['size']} MiB) is smaller than the exported disk ({exported['size']} MiB)",
                ECODE_INVAL,
            )
    if not op.nics:
        op.nics = [{k: v for k, v in nic.items() if v} for nic in info.nics]
    op.os_type = op.os_type or info.os or None
    op.osparams = {**{k: _value(v) for k, v in info.osparams.items()}, **op.osparams}
    given = {*op.osparams, *op.osparams_private, *(op.osparams_secret or {})}  # a name is in one category
    exported = {k: v for k, v in info.osparams_private.items() if k not in given}
    op.osparams_private = {**exported, **op.osparams_private}
    if not op.hypervisor or op.hypervisor == info.hypervisor:
        op.hvparams = {**{k: _value(v) for k, v in info.hvparams.items()}, **op.hvparams}
    op.hypervisor = op.hypervisor or info.hypervisor or None
    op.beparams = {**{k: _value(v) for k, v in info.beparams.items()}, **op.beparams}
    op.tags = op.tags or info.tags
    if op.identify_defaults:
        identify_defaults(lu.cfg.cluster, op)
    return ImportSource(node, name, info)


def identify_defaults(cluster: Any, op: Any) -> None:
    """`--identify-defaults`: drop the parameters equal to this cluster's defaults.

    An export carries every parameter filled in; imported as they are, the new instance would keep
    them even when the cluster's defaults change later. Dropped, it follows the defaults instead
    (backend, hypervisor and OS parameters, and each NIC's mode and link).
    """
    from gnt.instance.common import filled_beparams, filled_hvparams, filled_nicparams
    from gnt.objects import Instance
    from gnt.os.params import filled_osparams

    probe = Instance(hypervisor=op.hypervisor or cluster.default_hypervisor, os=op.os_type or "")
    defaults = filled_beparams(cluster, probe)
    op.beparams = {k: v for k, v in op.beparams.items() if defaults.get(k, _UNSET) != v}
    defaults = filled_hvparams(cluster, probe)
    op.hvparams = {k: v for k, v in op.hvparams.items() if defaults.get(k, _UNSET) != v}
    defaults = filled_osparams(cluster, op.os_type or "", {})
    op.osparams = {k: v for k, v in op.osparams.items() if defaults.get(k, _UNSET) != v}
    defaults = filled_nicparams(cluster, {})
    op.nics = [
        {k: v for k, v in nic.items() if k not in ("mode", "link") or defaults.get(k, _UNSET) != v} for nic in op.nics
    ]


async def _find_export(lu: LogicalUnit, src_node: str | None, name: str) -> Node:
    if src_node:
        node = lu.cfg.node(src_node)
        if node.offline:
            raise OpPrereqError(f"Source node {node.name} is offline", ECODE_INVAL)
        return node
    online = [n for n in lu.cfg.nodes.values() if not n.offline]
    listed = await lu.rpc.call_many(lu.ctx.services.targets(online), proc.EXPORT_LIST, proc.NoArgs())
    for node in sorted(online, key=lambda n: n.name):
        result = listed[node.name]
        if not result.failed and name in (result.payload or []):
            return node
    raise OpPrereqError(f"No export found for relative path {name}", ECODE_NOENT)


async def copy_in(lu: LogicalUnit, source: ImportSource, pnode: Node, disks: list[Any], instance_name: str,
                  compress: str, os_instance: Any = None) -> None:  # fmt: skip
    """Stream each exported disk into the new instance's disk of the same index; with `os_instance`
    (an instance with an OS) through the OS's import script, as Ganeti imports."""
    for disk, dump in zip(disks, source.info.dumps, strict=False):
        lu.feedback(f"Importing disk/{disk.index} from {source.node.name}:{source.name}/{dump}")
        await copy_disk(
            lu,
            f"disk/{disk.index}",
            End(source.node, export_name=source.name, export_file=dump),
            End(pnode, disk=disk, instance_name=instance_name, os_instance=os_instance),
            compress,
        )
