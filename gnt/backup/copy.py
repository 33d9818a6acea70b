"""The master's side of one node-to-node disk copy (the nodes' side is agent.transfer).

Order: the receiving node listens and hands back a one-time token; the sending node streams to it
(one long call) while the master polls the receiver for progress lines in the job log. On any
failure the receiver is told to stop, so no listener or half-written export file stays behind;
what was created for the copy (a target disk) is the caller's to remove.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gnt import compression
from gnt.errors import ECODE_INVAL, OpExecError, OpPrereqError
from gnt.objects import Node
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec, InstanceSpec

if TYPE_CHECKING:
    from gnt.jobs.lu import LogicalUnit


def check_compression(lu: LogicalUnit, tool: str) -> None:
    """A move, export or import may only use a compression the cluster's list allows (Ganeti's
    CheckCompressionTool); refused before anything is shut down or created."""
    problem = compression.check_allowed(tool, lu.cfg.cluster.compression_tools)
    if problem:
        raise OpPrereqError(problem, ECODE_INVAL)


PROGRESS_INTERVAL = 5.0
#: the slowest copy rate (MiB/s) a disk_send call is given time for, and the least time any copy gets
MIN_RATE_MIB = 5.0
MIN_TIMEOUT = 3600.0


@dataclass
class End:
    """One end of a copy: a disk of `instance_name` on `node`, or file `export_file` of export `export_name`."""

    node: Node
    disk: DiskSpec | None = None
    instance_name: str = ""
    export_name: str = ""
    export_file: str = ""
    #: a disk end read through the OS's export script (sender) or written through its import script
    #: (receiver), as Ganeti exports and imports; the spec carries the parameters the scripts get
    os_instance: InstanceSpec | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "disk": self.disk,
            "instance_name": self.instance_name,
            "export_name": self.export_name,
            "export_file": self.export_file,
            "os_instance": self.os_instance,
        }


def _mib(value: int) -> str:
    return f"{value / 1048576:.1f} MiB"


async def copy_disk(lu: LogicalUnit, label: str, source: End, dest: End, compress: str = "none") -> dict[str, Any]:
    """Stream `source` into `dest`; raises OpExecError (after stopping the receiver) if it fails."""
    rpc, services = lu.rpc, lu.ctx.services
    dst_target, src_target = services.target(dest.node), services.target(source.node)
    receive = proc.DiskReceiveArgs(dest.node.primary_ip, compress=compress, **dest.fields())
    ticket = (await rpc.disk_receive(dst_target, receive)).get(f"Could not prepare node {dest.node.name} for {label}")
    token = ticket["transfer_id"]
    disk = source.disk or dest.disk
    timeout = max(MIN_TIMEOUT, disk.size / MIN_RATE_MIB) if disk is not None else MIN_TIMEOUT
    send = proc.DiskSendArgs(
        dest.node.primary_ip, ticket["port"], token, compress=compress, timeout=timeout, **source.fields()
    )
    sending = asyncio.ensure_future(rpc.disk_send(src_target, send))
    try:
        while True:
            done, _ = await asyncio.wait({sending}, timeout=PROGRESS_INTERVAL)
            if done:
                break
            status = await rpc.transfer_status(dst_target, proc.TransferArgs(token))
            if not status.failed:
                lu.feedback(f"  - {label}: {_mib(status.payload['bytes'])} transferred")
        result = sending.result()
    except BaseException:
        sending.cancel()
        with contextlib.suppress(BaseException):
            await rpc.transfer_abort(dst_target, proc.TransferArgs(token))
        raise
    if result.failed:
        status = await rpc.transfer_status(dst_target, proc.TransferArgs(token))
        reason = (status.payload or {}).get("error") if not status.failed else None
        await rpc.transfer_abort(dst_target, proc.TransferArgs(token))
        raise OpExecError(f"{label} from {source.node.name} to {dest.node.name} failed: {reason or result.error}")
    await rpc.transfer_abort(dst_target, proc.TransferArgs(token))  # forget it on the node; it finished
    lu.feedback(f"  - {label}: done, {_mib(result.payload['bytes'])}")
    return result.payload  # type: ignore[no-any-return]
