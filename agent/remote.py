"""The node's side of `gnt-cluster command` and `gnt-cluster copyfile`.

Ganeti runs both over root SSH from the master. gnt uses the channel it already trusts for every
node procedure, the cluster certificate's mutual TLS: a caller holding that certificate can
already run code as root here (OS scripts, instance starts), so these add no power; they only
stop the admin from needing SSH keys on every node (see doc/design/008-queue-replication.md).
The node bounds what it does: a command runs as a procedure child (agent.children: its own process
group, killed after its timeout, with the daemon, and when it ends) and its output is capped; a
file goes only to an absolute path whose directory exists, written whole (never half a file).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
from typing import Any

from agent import children
from agent.handlers import handles
from gnt import confine, durable, paths
from gnt.rpc import procedures as proc

#: a command's longest life, whatever the master asks
MAX_COMMAND_SECONDS = 24 * 3600.0
#: output kept per command (the rest is dropped, and the answer says so)
MAX_OUTPUT = 1024 * 1024
#: how long output is still read once the command's process group is gone
OUTPUT_GRACE = 2.0


@handles(proc.NODE_COMMAND)
async def node_command(args: proc.NodeCommandArgs) -> dict[str, Any]:
    if not args.command.strip():
        raise confine.refuse("node_command: the command is empty")
    if "\0" in args.command:
        raise confine.refuse("node_command: the command holds a NUL byte")
    limit = min(max(float(args.timeout), 1.0), MAX_COMMAND_SECONDS)
    process = await children.spawn(
        "/bin/sh", "-c", args.command,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd="/",
    )  # fmt: skip
    chunks: list[bytes] = []
    sizes = [0, 0]  # kept, produced

    async def read_all() -> None:
        while chunk := await process.stdout.read(65536):  # type: ignore[union-attr]
            sizes[1] += len(chunk)
            room = MAX_OUTPUT - sizes[0]
            if room > 0:
                chunks.append(chunk[:room])
                sizes[0] += len(chunks[-1])

    reader = asyncio.ensure_future(read_all())
    code = await children.run_in_group(process, limit)  # the group is gone afterwards, whatever happened
    # a process that left the group (setsid) may keep the pipe open: what came so far is the output
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(reader, OUTPUT_GRACE)
    note = f"\n(killed after {limit:g}s)" if code is None else ""
    if sizes[1] > sizes[0]:
        note = f"\n(output cut at {MAX_OUTPUT} bytes){note}"
    output = b"".join(chunks).decode(errors="replace")
    return {"exit_code": -9 if code is None else code, "output": output + note}


@handles(proc.NODE_WRITE_FILE)
async def node_write_file(args: proc.NodeWriteFileArgs) -> None:
    path = args.path
    if not path.startswith("/") or os.path.normpath(path) != path or "\0" in path:
        raise confine.refuse(f"node_write_file: '{path[:200]}' is not a normalised absolute path")
    if not 0 <= args.mode <= 0o7777:
        raise confine.refuse(f"node_write_file: bad mode {args.mode!r}")
    try:
        data = base64.b64decode(args.data, validate=True)
    except (binascii.Error, ValueError):
        raise confine.refuse("node_write_file: the content is not base64") from None
    local = paths.localize(path)
    directory = os.path.dirname(local)
    if not os.path.isdir(directory):
        raise confine.refuse(f"directory {os.path.dirname(path)} does not exist on {paths.hostname()}")
    if os.path.isdir(local):
        raise confine.refuse(f"{path} is a directory on {paths.hostname()}")
    await asyncio.to_thread(durable.write_file, local, data, args.mode)
    os.chmod(local, args.mode)  # exactly the source's bits, whatever this daemon's umask
