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
import hmac
import logging
import os
import re
import secrets
import shutil
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import storage
from agent import disk_stream
from agent.handlers import handles
from gnt import certs, compression, confine, durable, paths
from gnt.errors import RpcArgumentError, StorageError
from gnt.rpc import procedures as proc

log = logging.getLogger("gnt-noded")

T = TypeVar("T")

#: seconds the receiver waits for the sender to connect, and for each frame after that
ACCEPT_TIMEOUT = 60.0
IO_TIMEOUT = 60.0
#: how often the accepting thread looks whether it was aborted or expired
ACCEPT_POLL = 0.25
#: connections a receiver handshakes with at once (only one of them can show the token)
MAX_HANDSHAKES = 8
#: the TLS stream's read buffer: small reads (header, token) come from it, blocks go straight to the block
STREAM_BUFFER = 64 * 1024
#: finished receivers are kept this long for a last transfer_status, then forgotten
KEEP_DONE = 600.0
EXPORT_FILE_RE = re.compile(r"^disk[0-9]{1,3}\.dump\Z")
STAGING_SUFFIX = ".new"
CONFIG_FILE = "config.ini"
COMPRESSIONS = compression.TRANSPORTS


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
    """One receiving transfer: listens, accepts the one stream showing `token`, writes it to `path`.

    Threads of its own (agent.disk_stream): one accepts connections until the right one arrives (or
    ACCEPT_TIMEOUT passes), one per connection does the TLS handshake and checks the token, and the
    accepted one receives the stream. The event loop only reads `status()`."""

    token: str
    path: str
    compress: str
    #: an export file: removed (with its staging directory) when the transfer fails
    export_dir: str | None = None
    #: a disk: the most bytes it holds (a longer stream is refused rather than growing a file disk)
    limit: int | None = None
    #: the OS import script the stream is fed to (agent.os_pipe), instead of writing `path` here
    script: Any = None
    #: the daemon's event loop: the script is waited for there (it is an asyncio child)
    loop: asyncio.AbstractEventLoop | None = None
    written: int = 0
    done: bool = False
    error: str | None = None
    finished_at: float | None = None
    listener: socket.socket | None = None
    accepted: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    connections: set[socket.socket] = field(default_factory=set)

    def status(self) -> dict[str, Any]:
        return {"bytes": self.written, "done": self.done, "error": self.error}

    def start(self, ctx: ssl.SSLContext) -> None:
        threading.Thread(target=self._accept_loop, args=(ctx,), name="disk-receive-accept", daemon=True).start()

    def _accept_loop(self, ctx: ssl.SSLContext) -> None:
        assert self.listener is not None
        deadline = time.monotonic() + ACCEPT_TIMEOUT
        self.listener.settimeout(ACCEPT_POLL)
        try:
            while not (self.accepted.is_set() or self.stopping.is_set()) and time.monotonic() < deadline:
                try:
                    conn, _ = self.listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    break  # closed by an abort
                with self.lock:
                    if len(self.connections) >= MAX_HANDSHAKES or self.accepted.is_set():
                        conn.close()
                        continue
                    self.connections.add(conn)
                threading.Thread(target=self._serve, args=(conn, ctx), name="disk-receive", daemon=True).start()
        finally:
            self.listener.close()
            with self.lock:
                expired = not self.accepted.is_set() and not self.stopping.is_set()
                if expired:
                    self.stopping.set()
            if expired:
                self.error = f"no sender connected within {ACCEPT_TIMEOUT:g}s"
                self.finished_at = time.monotonic()
                self.fail_cleanup()

    def _serve(self, conn: socket.socket, ctx: ssl.SSLContext) -> None:
        """One connection: handshake, token, and if it is the one, the stream and the answer."""
        tls: ssl.SSLSocket | None = None
        try:
            conn.settimeout(IO_TIMEOUT)
            tls = ctx.wrap_socket(conn, server_side=True)
            with self.lock:
                self.connections.add(tls)
            stream = tls.makefile("rb", buffering=STREAM_BUFFER)
            line = disk_stream.read_line(stream, disk_stream.TOKEN_LINE_MAX)
            with self.lock:
                ours = hmac.compare_digest(line.strip(), self.token.encode()) and not self.accepted.is_set()
                ours = ours and not self.stopping.is_set()
                if ours:
                    self.accepted.set()
            if not ours:
                log.warning("disk transfer: refused a stream without the right token")
                return
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self.listener, socket.SHUT_RDWR)  # type: ignore[arg-type]
            self._receive(tls, stream)
        except (OSError, ValueError) as err:
            if self.accepted.is_set() and tls is not None and not self.done and self.error is None:
                self._failed(tls, err)
            else:
                log.info("disk transfer: a connection failed before showing the token: %s", err)
        finally:
            with self.lock:
                self.connections.discard(conn)
                if tls is not None:
                    self.connections.discard(tls)
            if tls is not None:
                disk_stream.close(tls)
            conn.close()

    def _receive(self, tls: ssl.SSLSocket, stream: Any) -> None:
        flags = os.O_WRONLY | (os.O_CREAT | os.O_TRUNC if self.export_dir else 0)
        try:
            if self.script is not None:
                fd = self.script.fd
            else:
                fd = disk_stream.open_target(self.path, flags, direct=self.compress == "none")
            try:
                sink = disk_stream.Sink(fd, self.compress, self.limit, self._progress, durable=self.script is None)
                digest = disk_stream.receive_stream(stream, sink)
            finally:
                if self.script is not None:
                    self.script.close()  # the end of the import script's input
                else:
                    os.close(fd)
            if self.script is not None:  # the disk holds the data once the import script is done
                _wait_on_loop(self.loop, self.script.finish())
        except (StorageError, OSError, ValueError) as err:
            self._failed(tls, err)
            return
        finally:
            self.finished_at = time.monotonic()
        self.done = True  # durable: what the sender hears next does not change that
        tls.sendall(f"ok {self.written} {digest}\n".encode())

    def _progress(self, written: int) -> None:
        self.written = written

    def _failed(self, tls: ssl.SSLSocket, err: BaseException) -> None:
        self.error = self.error or (str(err) or type(err).__name__)
        if self.stopping.is_set() and not str(err):
            self.error = "aborted"
        self.finished_at = time.monotonic()
        log.warning("disk transfer into %s failed: %s", self.path, self.error)
        if not isinstance(err, (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError)):  # else nobody listens
            with contextlib.suppress(OSError, ValueError):
                tls.sendall(f"error {self.error}\n".encode())
        self.fail_cleanup()

    def stop(self) -> None:
        """Abort: no new connection, and a stream in progress broken off (its thread cleans up)."""
        with self.lock:
            self.stopping.set()
            for sock in (self.listener, *self.connections):
                disk_stream.shut(sock)

    def fail_cleanup(self) -> None:
        if self.script is not None:
            self.script.abort()
        if self.export_dir:
            STAGED.discard(self.export_dir)
            shutil.rmtree(self.export_dir, ignore_errors=True)


# the names the tests and older callers know
_inflated = disk_stream.inflated
_MAX_FRAME = disk_stream.MAX_FRAME


RECEIVERS: dict[str, Receiver] = {}
#: staging directories this daemon is writing exports into (between the first receive and finalize)
STAGED: set[str] = set()


def _forget_old() -> None:
    now = time.monotonic()
    for token, rcv in list(RECEIVERS.items()):
        if rcv.finished_at is not None and now - rcv.finished_at > KEEP_DONE:
            del RECEIVERS[token]


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
    loop = asyncio.get_running_loop()
    rcv = Receiver(token, target, args.compress, export_dir=staging, limit=limit, script=script, loop=loop)
    try:
        rcv.listener = socket.create_server((args.listen_address, 0))
    except OSError as err:
        rcv.fail_cleanup()
        raise StorageError(f"Cannot listen on {args.listen_address}: {err.strerror or err}") from None
    port = rcv.listener.getsockname()[1]
    rcv.start(certs.server_context(paths.cluster_cert()))
    RECEIVERS[token] = rcv
    return {"transfer_id": token, "port": port}


@handles(proc.DISK_SEND)
async def disk_send(args: proc.DiskSendArgs) -> dict[str, Any]:
    _check_compress(args.compress)
    source = await _end_path(args, receiving=False)
    ctx = certs.client_context(paths.cluster_cert())
    script = await _os_script(args, "export", source)
    sender = Sender(args.address, args.port, args.transfer_id, args.compress, script, asyncio.get_running_loop())
    try:
        return await _in_thread(sender.run, source, ctx)
    except asyncio.CancelledError:
        sender.stop()
        raise
    finally:
        if script is not None:
            script.abort()  # a no-op once it finished


async def _os_script(args: Any, kind: str, device: str) -> Any:
    """The instance OS's import or export script for this end (agent.os_pipe), if the master asked."""
    if args.os_instance is None:
        return None
    if args.disk is None:
        raise RpcArgumentError(f"an OS {kind} script runs on a disk, not on an export file")
    from agent import os_pipe

    return await os_pipe.start(kind, args.os_instance, args.disk, device)


def _wait_on_loop(loop: asyncio.AbstractEventLoop | None, coro: Any) -> None:
    """From a transfer thread, run `coro` (an asyncio child's wait) on the daemon's loop and wait for it."""
    assert loop is not None
    asyncio.run_coroutine_threadsafe(coro, loop).result()


class Sender:
    """The sending end, run in a thread of its own (agent.disk_stream); `stop` breaks it off."""

    def __init__(
        self, address: str, port: int, token: str, compress: str, script: Any = None, loop: Any = None
    ) -> None:
        self.address, self.port, self.token, self.compress = address, port, token, compress
        #: the OS export script whose output is sent instead of the disk (agent.os_pipe), and the loop it runs on
        self.script, self.loop = script, loop
        self.sent = 0
        self.sock: socket.socket | None = None

    def run(self, source: str, ctx: ssl.SSLContext) -> dict[str, Any]:
        try:
            raw = socket.create_connection((self.address, self.port), timeout=IO_TIMEOUT)
            self.sock = ctx.wrap_socket(raw)
        except OSError as err:
            raise StorageError(f"Cannot connect to the receiving node at {self.address}:{self.port}: {err}") from None
        fd = self.script.fd if self.script is not None else os.open(source, os.O_RDONLY)
        before_end = None
        if self.script is not None:
            script, loop = self.script, self.loop

            def before_end() -> None:  # a failed export script never reaches the end marker
                _wait_on_loop(loop, script.finish())

        try:
            digest = disk_stream.send_stream(self.sock, fd, self.token, self.compress, self._progress, before_end)
            reply = disk_stream.read_line(self.sock.makefile("rb"), disk_stream.ANSWER_MAX)
            answer = reply.decode(errors="replace").strip().split(maxsplit=2)
        except (OSError, ValueError) as err:
            raise StorageError(f"Disk transfer to {self.address} broke off after {self.sent} bytes: {err}") from None
        finally:
            if self.script is not None:
                self.script.close()
            else:
                os.close(fd)
            disk_stream.close(self.sock)
        if not answer or answer[0] != "ok":
            reason = " ".join(answer[1:]) or "connection closed"
            raise StorageError(f"The receiving node refused the data: {reason}")
        if answer[1:] != [str(self.sent), digest]:
            raise StorageError(f"Disk transfer check failed: sent {self.sent} bytes, the receiver wrote {answer[1]}")
        return {"bytes": self.sent, "sha256": digest}

    def _progress(self, length: int) -> None:
        self.sent += length

    def stop(self) -> None:
        disk_stream.shut(self.sock)


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` in a thread of its own (a copy takes minutes: not one of the loop's shared workers)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        result, error = None, None
        try:
            result = fn(*args)
        except BaseException as err:  # noqa: BLE001 - handed to the awaiting coroutine
            error = err
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="disk-send", daemon=True).start()
    return await future


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
    rcv.stop()
    if not rcv.done and not rcv.accepted.is_set():
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
