"""Node-to-node disk streams (gnt-instance move, gnt-backup export and import) and the export directory.

Why a stream of its own rather than the RPC: an RPC body is held in memory whole (agent.httpserver caps
it at 64 MiB) and disks are gigabytes. The receiving node listens on an ephemeral port of its own
address with the cluster certificate required of the peer (the same mutual TLS as the RPC), and
accepts one stream that first shows the one-time token `disk_receive` handed to the master; the
master passes it to the sender. Data travels in length-prefixed frames (TLS has no usable
half-close), optionally gzip-compressed, straight from the source device or file to the target
(no temporary copy). At the end the receiver fsyncs and answers with the byte count and SHA-256 of
what it wrote, and the sender compares both with its own: a copy the two ends disagree on fails.

Every path comes from this node: a disk's path from its storage driver (confined by the dispatcher),
an export file from this node's export directory, named by an instance name (checked by the
dispatcher) and a fixed file-name pattern. An export is written into `NAME.new/` and renamed to
`NAME/` only when complete, so a failed export leaves nothing that looks like one; a failed or
aborted receive into an export removes the staging directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import shutil
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import storage
from agent.handlers import handles
from gnt import certs, confine, durable, paths
from gnt.errors import RpcArgumentError, StorageError
from gnt.rpc import procedures as proc

log = logging.getLogger("gnt-noded")

CHUNK = 1024 * 1024
#: seconds the receiver waits for the sender to connect, and for each frame after that
ACCEPT_TIMEOUT = 60.0
IO_TIMEOUT = 60.0
#: finished receivers are kept this long for a last transfer_status, then forgotten
KEEP_DONE = 600.0
EXPORT_FILE_RE = re.compile(r"^disk[0-9]{1,3}\.dump\Z")
STAGING_SUFFIX = ".new"
CONFIG_FILE = "config.ini"
COMPRESSIONS = ("none", "gzip")
_FRAME = struct.Struct("!I")
_MAX_FRAME = 4 * CHUNK


def export_path(name: str, staging: bool = False) -> str:
    """The directory of export `name` in this node's export dir (the name was checked by the dispatcher)."""
    confine.check_instance_name(name, "export name")
    return os.path.join(paths.export_dir(), name + (STAGING_SUFFIX if staging else ""))


def _export_file(name: str, file: str, staging: bool) -> str:
    if not EXPORT_FILE_RE.match(file):
        raise confine.refuse(f"export file name {file[:60]!r} is not diskN.dump")
    path = os.path.join(export_path(name, staging), file)
    if not os.path.realpath(path).startswith(os.path.realpath(paths.export_dir()) + os.sep):
        raise confine.refuse(f"export file {name}/{file} resolves outside the export directory")
    return path


def _check_compress(compress: str) -> None:
    if compress not in COMPRESSIONS:
        raise RpcArgumentError(f"Unknown transport compression '{compress[:30]}'; use one of {', '.join(COMPRESSIONS)}")


async def _end_path(args: Any, receiving: bool) -> str:
    """The local path one end reads or writes: a disk (assembled here) or an export file."""
    if args.disk is not None and args.export_name:
        raise RpcArgumentError("a transfer end is a disk or an export file, not both")
    if args.disk is not None:
        return await storage.get(args.disk.dev_type).assemble(args.disk, args.instance_name)  # type: ignore[no-any-return]
    if not args.export_name:
        raise RpcArgumentError("a transfer end needs a disk or an export file")
    path = _export_file(args.export_name, args.export_file, staging=receiving)
    if receiving:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    elif not os.path.isfile(path):
        raise StorageError(f"Export {args.export_name} has no file {args.export_file}")
    return path


@dataclass
class Receiver:
    """One receiving transfer: listens, accepts the one stream showing `token`, writes it to `path`."""

    token: str
    path: str
    compress: str
    #: an export file: removed (with its staging directory) when the transfer fails
    export_dir: str | None = None
    #: a disk: the most bytes it holds (a longer stream is refused rather than growing a file disk)
    limit: int | None = None
    #: the OS import script the stream is fed to (agent.os_pipe), instead of writing `path` here
    script: Any = None
    written: int = 0
    done: bool = False
    error: str | None = None
    finished_at: float | None = None
    server: asyncio.Server | None = None
    task: asyncio.Task[None] | None = None
    accepted: asyncio.Event = field(default_factory=asyncio.Event)

    def status(self) -> dict[str, Any]:
        return {"bytes": self.written, "done": self.done, "error": self.error}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), IO_TIMEOUT)
            if self.accepted.is_set() or not hmac.compare_digest(line.strip(), self.token.encode()):
                log.warning("disk transfer: refused a stream without the right token")
                return
            self.accepted.set()
            if self.server is not None:
                self.server.close()
            digest = await self._write(reader)
            if self.script is not None:  # the disk holds the data once the import script is done
                await self.script.finish()
            writer.write(f"ok {self.written} {digest}\n".encode())
            await writer.drain()
            self.done = True
        except Exception as err:  # noqa: BLE001 - the transfer's outcome, reported by transfer_status
            self.error = f"{type(err).__name__}: {err}" if not str(err) else str(err)
            log.warning("disk transfer into %s failed: %s", self.path, self.error)
            with contextlib.suppress(Exception):
                writer.write(f"error {self.error}\n".encode())
                await writer.drain()
            self.fail_cleanup()
        finally:
            if self.accepted.is_set():
                self.finished_at = time.monotonic()
            writer.close()

    async def _write(self, reader: asyncio.StreamReader) -> str:
        """Write the frames to the target; a refusal (too long, a failed write) reads the rest of the
        stream without writing, so the sender gets the reason after its last frame instead of a
        connection reset in the middle."""
        inflate = zlib.decompressobj(wbits=31) if self.compress == "gzip" else None
        digest = hashlib.sha256()
        refusal: str | None = None
        flags = os.O_WRONLY | (os.O_CREAT | os.O_TRUNC if self.export_dir else 0)
        fd = self.script.fd if self.script is not None else os.open(self.path, flags, 0o600)
        try:
            while True:
                (length,) = _FRAME.unpack(await asyncio.wait_for(reader.readexactly(_FRAME.size), IO_TIMEOUT))
                if length == 0:
                    break
                if length > _MAX_FRAME:
                    raise StorageError(f"disk transfer frame of {length} bytes is too large")
                data = await asyncio.wait_for(reader.readexactly(length), IO_TIMEOUT)
                if refusal is not None:
                    continue
                try:
                    await self._write_frame(fd, inflate, data, digest)
                except (StorageError, OSError, zlib.error) as err:
                    refusal = str(err) if not isinstance(err, OSError) else f"cannot write: {err.strerror or err}"
            if refusal is not None:
                raise StorageError(refusal)
            if self.script is None:
                await asyncio.to_thread(os.fsync, fd)
        finally:
            if self.script is not None:
                self.script.close()  # the end of the import script's input
            else:
                os.close(fd)
        return digest.hexdigest()

    async def _write_frame(self, fd: int, inflate: Any, data: bytes, digest: Any) -> None:
        for piece in _inflated(inflate, data) if inflate is not None else (data,):
            if self.limit is not None and self.written + len(piece) > self.limit:
                raise StorageError(f"the stream is larger than the target disk ({self.limit} bytes)")
            digest.update(piece)
            await asyncio.to_thread(_write_all, fd, piece)
            self.written += len(piece)

    def fail_cleanup(self) -> None:
        if self.script is not None:
            self.script.abort()
        if self.export_dir:
            STAGED.discard(self.export_dir)
            shutil.rmtree(self.export_dir, ignore_errors=True)


def _inflated(inflate: Any, data: bytes) -> Iterator[bytes]:
    """Decompress in bounded pieces: a small frame must not inflate into gigabytes of memory at once."""
    while data:
        out = inflate.decompress(data, _MAX_FRAME)
        if out:
            yield out
        data = inflate.unconsumed_tail
    if inflate.eof and inflate.unused_data:
        raise StorageError("data after the end of the compressed stream")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


RECEIVERS: dict[str, Receiver] = {}
#: staging directories this daemon is writing exports into (between the first receive and finalize)
STAGED: set[str] = set()


def _forget_old() -> None:
    now = time.monotonic()
    for token, rcv in list(RECEIVERS.items()):
        if rcv.finished_at is not None and now - rcv.finished_at > KEEP_DONE:
            del RECEIVERS[token]


async def _expire(rcv: Receiver) -> None:
    """Close the listener of a receiver nobody connected to in time."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(rcv.accepted.wait(), ACCEPT_TIMEOUT)
    if not rcv.accepted.is_set():
        rcv.error = f"no sender connected within {ACCEPT_TIMEOUT:g}s"
        rcv.finished_at = time.monotonic()
        if rcv.server is not None:
            rcv.server.close()
        rcv.fail_cleanup()


def sweep_stale_staging() -> None:
    """Remove staging directories no live receiver of this daemon writes: a daemon killed mid-export
    (or a node that went down) leaves its `NAME.new/` behind, and no transfer survives a restart."""
    base = paths.export_dir()
    try:
        entries = os.listdir(base)
    except FileNotFoundError:
        return
    for entry in entries:
        path = os.path.join(base, entry)
        if entry.endswith(STAGING_SUFFIX) and path not in STAGED and os.path.isdir(path):
            log.info("removing the unfinished export %s", path)
            shutil.rmtree(path, ignore_errors=True)


@handles(proc.DISK_RECEIVE)
async def disk_receive(args: proc.DiskReceiveArgs) -> dict[str, Any]:
    _check_compress(args.compress)
    _forget_old()
    sweep_stale_staging()
    target = await _end_path(args, receiving=True)
    staging = os.path.dirname(target) if args.export_name else None
    if staging:
        STAGED.add(staging)
    token = secrets.token_hex(24)
    limit = args.disk.size * 1024 * 1024 if args.disk is not None else None
    script = await _os_script(args, "import", target)
    if script is not None:
        limit = None  # a dump in the OS's own format need not be the disk's size
    rcv = Receiver(token, target, args.compress, export_dir=staging, limit=limit, script=script)
    try:
        rcv.server = await asyncio.start_server(
            rcv.handle, args.listen_address, 0, ssl=certs.server_context(paths.cluster_cert())
        )
    except OSError as err:
        rcv.fail_cleanup()
        raise StorageError(f"Cannot listen on {args.listen_address}: {err.strerror or err}") from None
    port = rcv.server.sockets[0].getsockname()[1]
    rcv.task = asyncio.create_task(_expire(rcv))
    RECEIVERS[token] = rcv
    return {"transfer_id": token, "port": port}


async def _os_script(args: Any, kind: str, device: str) -> Any:
    """The instance OS's import or export script for this end (agent.os_pipe), if the master asked."""
    if args.os_instance is None:
        return None
    if args.disk is None:
        raise RpcArgumentError(f"an OS {kind} script runs on a disk, not on an export file")
    from agent import os_pipe

    return await os_pipe.start(kind, args.os_instance, args.disk, device)


def _read_chunk(fd: int) -> bytes:
    return os.read(fd, CHUNK)


@handles(proc.DISK_SEND)
async def disk_send(args: proc.DiskSendArgs) -> dict[str, Any]:
    _check_compress(args.compress)
    source = await _end_path(args, receiving=False)
    ctx = certs.client_context(paths.cluster_cert())
    script = await _os_script(args, "export", source)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(args.address, args.port, ssl=ctx), IO_TIMEOUT)
    except (OSError, TimeoutError) as err:
        if script is not None:
            script.abort()
        raise StorageError(f"Cannot connect to the receiving node at {args.address}:{args.port}: {err}") from None
    digest, sent = hashlib.sha256(), 0
    deflate = zlib.compressobj(6, zlib.DEFLATED, 31) if args.compress == "gzip" else None
    fd = script.fd if script is not None else os.open(source, os.O_RDONLY)
    try:
        writer.write(args.transfer_id.encode() + b"\n")
        while data := await asyncio.to_thread(_read_chunk, fd):
            digest.update(data)
            sent += len(data)
            await _send_frame(writer, deflate.compress(data) if deflate else data)
        if script is not None:  # a failed export script never reaches the end marker: no complete dump
            await script.finish()
        if deflate is not None:
            await _send_frame(writer, deflate.flush())
        await _send_end(writer)
        answer = (
            (await asyncio.wait_for(reader.readline(), IO_TIMEOUT)).decode(errors="replace").strip().split(maxsplit=2)
        )
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as err:
        raise StorageError(f"Disk transfer to {args.address} broke off after {sent} bytes: {err}") from None
    finally:
        if script is not None:
            script.abort()
        else:
            os.close(fd)
        writer.close()
    if not answer or answer[0] != "ok":
        raise StorageError(f"The receiving node refused the data: {' '.join(answer[1:]) or 'connection closed'}")
    if answer[1:] != [str(sent), digest.hexdigest()]:
        raise StorageError(f"Disk transfer check failed: sent {sent} bytes, the receiver wrote {answer[1]}")
    return {"bytes": sent, "sha256": digest.hexdigest()}


async def _send_frame(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Send data in frames; nothing for empty data (a compressor that buffered), since an empty
    frame is the end marker (`_send_end`)."""
    for start in range(0, len(data), _MAX_FRAME):
        if writer.transport.is_closing():
            raise ConnectionError("the receiver closed the connection")
        piece = data[start : start + _MAX_FRAME]
        writer.write(_FRAME.pack(len(piece)) + piece)
        await asyncio.wait_for(writer.drain(), IO_TIMEOUT)


async def _send_end(writer: asyncio.StreamWriter) -> None:
    writer.write(_FRAME.pack(0))
    await asyncio.wait_for(writer.drain(), IO_TIMEOUT)


def _receiver(token: str) -> Receiver:
    rcv = RECEIVERS.get(token)
    if rcv is None:
        raise StorageError("No such disk transfer on this node")
    return rcv


@handles(proc.TRANSFER_STATUS)
async def transfer_status(args: proc.TransferArgs) -> dict[str, Any]:
    return _receiver(args.transfer_id).status()


@handles(proc.TRANSFER_ABORT)
async def transfer_abort(args: proc.TransferArgs) -> None:
    rcv = RECEIVERS.pop(args.transfer_id, None)
    if rcv is None:
        return
    if rcv.server is not None:
        rcv.server.close()
    if rcv.task is not None:
        rcv.task.cancel()
    if not rcv.done:
        rcv.error = rcv.error or "aborted"
        rcv.fail_cleanup()


# -- the export directory -----------------------------------------------------------------------


@handles(proc.EXPORT_LIST)
async def export_list(args: proc.NoArgs) -> list[str]:
    sweep_stale_staging()
    try:
        entries = os.listdir(paths.export_dir())
    except FileNotFoundError:
        return []
    base = paths.export_dir()
    return sorted(
        e for e in entries if confine.INSTANCE_NAME_RE.match(e) and os.path.isfile(os.path.join(base, e, CONFIG_FILE))
    )


@handles(proc.EXPORT_INFO)
async def export_info(args: proc.ExportNameArgs) -> str:
    try:
        with open(os.path.join(export_path(args.name), CONFIG_FILE)) as handle:
            return handle.read(1024 * 1024)
    except FileNotFoundError:
        raise StorageError(f"No export of {args.name} on this node") from None


@handles(proc.EXPORT_FINALIZE)
async def export_finalize(args: proc.ExportFinalizeArgs) -> None:
    staging, final = export_path(args.name, staging=True), export_path(args.name)
    if not os.path.isdir(staging):
        raise StorageError(f"No export of {args.name} is being written on this node")
    durable.write_file(os.path.join(staging, CONFIG_FILE), args.config, mode=0o600)
    if os.path.isdir(final):
        shutil.rmtree(final)
    os.rename(staging, final)
    STAGED.discard(staging)


@handles(proc.EXPORT_REMOVE)
async def export_remove(args: proc.ExportNameArgs) -> None:
    for staging in (True, False):
        path = export_path(args.name, staging)
        STAGED.discard(path)
        shutil.rmtree(path, ignore_errors=True)
