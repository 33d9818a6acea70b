"""The data path of one node-to-node disk stream (agent.transfer): blocking TLS, two threads per end.

Why not the event loop: the first version streamed through asyncio (1 MiB chunks, `asyncio.to_thread`
for every read and write, `StreamReader.readexactly`, each frame's header concatenated onto its data)
and moved 82 MiB/s. A profile of both ends (doc/design/015-disk-streams-and-exports.md, "Speed") put
the time in the loop's machinery rather than in the work: thread hand-offs per chunk, the stream
reader's buffer copies, TLS through memory BIOs in small pieces, and each end doing read, SHA-256,
TLS and write one after the other. Here each end is a plain blocking TLS socket and two threads:
the sender reads and hashes the next block while the last one is encrypted and sent; the receiver
decrypts into a block while the one before is hashed and written. Every costly call (read, write,
SHA-256, TLS) releases the GIL, so the two threads use two cores; blocks are a few reused,
page-aligned buffers (no allocation, no copy beyond the kernel's and the cipher's), and the receiver
writes uncompressed blocks with O_DIRECT (`Sink`).

The wire format is unchanged: the token line, then frames of a 4-byte big-endian length and that
many bytes (optionally gzip), a zero length at the end; the receiver answers `ok BYTES SHA256` or
`error REASON`. TLS (mutual, AEAD) protects every byte on the wire; SHA-256 over what was read and
what is written checks the two ends end to end.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import mmap
import os
import queue
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from gnt import compression
from gnt.errors import StorageError

CHUNK = 4 * 1024 * 1024
#: the largest frame a receiver accepts (a sender's frames are at most CHUNK; compressed data is split)
MAX_FRAME = CHUNK
FRAME = struct.Struct("!I")
HEADER = FRAME.size
#: blocks in flight per end: one being filled, one being drained, one spare
DEPTH = 3
#: the receiver asks the kernel to start writing back every this many bytes, so the final fsync has
#: little left to wait for (the copy and the disk work at the same time)
WRITEBACK_EVERY = 64 * 1024 * 1024
#: what O_DIRECT needs of a write's length and file offset (the block's memory is page-aligned)
DIRECT_ALIGN = 4096
TOKEN_LINE_MAX = 128
ANSWER_MAX = 4096
#: seconds a closing end waits for the peer's close_notify
CLOSE_TIMEOUT = 2.0

_SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_SYNC_RANGE = _sync_file_range()


class Pipeline:
    """Two stages over DEPTH reused blocks: `fill(block) -> n` in a helper thread (0 ends the stream),
    `drain(block, n)` in the calling thread, in order. An error in either stage stops both and is
    raised here (the helper's first)."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._free: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
        self._full: queue.SimpleQueue[tuple[memoryview, int] | BaseException] = queue.SimpleQueue()
        self._stop = threading.Event()
        for _ in range(DEPTH):
            self._free.put(memoryview(mmap.mmap(-1, size)))  # page-aligned, as O_DIRECT writes need

    def run(self, fill: Callable[[memoryview], int], drain: Callable[[memoryview, int], None]) -> None:
        helper = threading.Thread(target=self._fill_loop, args=(fill,), name=self.name, daemon=True)
        helper.start()
        try:
            while True:
                item = self._full.get()
                if isinstance(item, BaseException):
                    raise item
                block, length = item
                if not length:
                    return
                drain(block, length)
                self._free.put(block)
        finally:
            self._stop.set()
            self._free.put(None)  # wakes a helper waiting for a block
            helper.join()

    def _fill_loop(self, fill: Callable[[memoryview], int]) -> None:
        try:
            while not self._stop.is_set():
                block = self._free.get()
                if block is None:
                    return
                length = fill(block)
                self._full.put((block, length))
                if not length:
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the draining thread, which raises it
            self._full.put(err)


def read_full(fd: int, view: memoryview) -> int:
    """Fill `view` from `fd`; less only at the end of the file (or device)."""
    got = 0
    while got < len(view):
        n = os.readv(fd, [view[got:]])
        if not n:
            break
        got += n
    return got


def read_line(stream: BinaryIO, limit: int) -> bytes:
    line = stream.readline(limit)
    return line if line.endswith(b"\n") else b""


def read_exactly(stream: BinaryIO, view: memoryview) -> None:
    """Fill `view` from the TLS stream (a buffered reader loops until full); the peer ending early fails."""
    if stream.readinto(view) != len(view):  # type: ignore[attr-defined]
        raise ConnectionError("the peer closed the stream in the middle of a frame")


def frames(data: bytes | memoryview) -> Iterator[bytes]:
    """`data` as frames of at most MAX_FRAME bytes each, header and all (compressed data only)."""
    view = memoryview(data)
    for start in range(0, len(view), MAX_FRAME):
        piece = view[start : start + MAX_FRAME]
        yield FRAME.pack(len(piece)) + piece


def send_stream(
    tls: socket.socket,
    fd: int,
    token: str,
    compress: str,
    progress: Callable[[int], None],
    before_end: Callable[[], None] | None = None,
) -> str:
    """Send the token, then everything in `fd` as frames, then the end frame; the SHA-256 of what was
    read. `progress(n)` is called after each block is on its way; `before_end` after the last one and
    before the end frame (an export script's exit is checked there: a failed one sends no end, so
    the receiver never takes a partial dump as complete)."""
    digest = hashlib.sha256()
    level = compression.LEVELS.get(compress)
    deflate = zlib.compressobj(level, zlib.DEFLATED, 31) if level is not None else None
    tls.sendall(token.encode() + b"\n")

    def fill(block: memoryview) -> int:
        length = read_full(fd, block[HEADER:])
        if length:
            digest.update(block[HEADER : HEADER + length])
            FRAME.pack_into(block, 0, length)
        return length

    def drain(block: memoryview, length: int) -> None:
        if deflate is None:
            tls.sendall(block[: HEADER + length])
        else:
            for frame in frames(deflate.compress(block[HEADER : HEADER + length])):
                tls.sendall(frame)
        progress(length)

    Pipeline(HEADER + CHUNK, "disk-send-read").run(fill, drain)
    if before_end is not None:
        before_end()
    if deflate is not None:
        for frame in frames(deflate.flush()):
            tls.sendall(frame)
    tls.sendall(FRAME.pack(0))
    return digest.hexdigest()


def inflated(inflate: Any, data: bytes | memoryview) -> Iterator[bytes]:
    """Decompress in bounded pieces: a small frame must not inflate into gigabytes of memory at once."""
    while data:
        out = inflate.decompress(data, MAX_FRAME)
        if out:
            yield out
        data = inflate.unconsumed_tail
    if inflate.eof and inflate.unused_data:
        raise StorageError("data after the end of the compressed stream")


class Sink:
    """Where a receiver's data goes: the file or device `fd`, at most `limit` bytes, hashed as written.

    `fd` may be open with O_DIRECT (the receiver asks for it on uncompressed streams): the blocks go
    from the receive buffer to the disk without a copy into the page cache, which a profile of the
    threaded stream showed as its largest single cost (the kernel's copy into the page cache, ahead
    of AES-GCM and SHA-256), and nothing is left dirty for the final fsync. A piece that is not
    aligned (the stream's tail, a short write) switches the descriptor back to buffered writes.

    A refusal (longer than the disk, a failed write, bad compressed data) is remembered and the rest
    of the stream is read without writing, so the sender gets the reason after its last frame
    instead of a connection reset in the middle."""

    def __init__(
        self, fd: int, compress: str, limit: int | None, progress: Callable[[int], None], durable: bool = True
    ) -> None:
        self.fd = fd
        #: a file or device is synced; a pipe (an OS import script's input) cannot be
        self.durable = durable
        self.limit = limit
        self.progress = progress
        self.digest = hashlib.sha256()
        self.inflate = zlib.decompressobj(wbits=31) if compress in compression.LEVELS else None
        self.refusal: str | None = None
        self.written = 0
        self._synced = 0
        self.direct = bool(fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0))

    def take(self, block: memoryview, length: int) -> None:
        if self.refusal is not None:
            return
        data = block[:length]
        try:
            for piece in inflated(self.inflate, data) if self.inflate is not None else (data,):
                self._write(memoryview(piece))
        except (StorageError, zlib.error) as err:
            self.refusal = str(err)
        except OSError as err:
            self.refusal = f"cannot write: {err.strerror or err}"

    def _buffered(self) -> None:
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~os.O_DIRECT)
        self.direct = False

    def _write(self, piece: memoryview) -> None:
        if self.limit is not None and self.written + len(piece) > self.limit:
            raise StorageError(f"the stream is larger than the target disk ({self.limit} bytes)")
        self.digest.update(piece)
        if self.direct and (len(piece) % DIRECT_ALIGN or self.written % DIRECT_ALIGN):
            self._buffered()
        while piece:
            done = os.write(self.fd, piece)
            piece = piece[done:]
            if piece and self.direct:  # the rest starts unaligned
                self._buffered()
            self.written += done
        self.progress(self.written)
        behind = self.written - self._synced
        if self.durable and not self.direct and _SYNC_RANGE is not None and behind >= WRITEBACK_EVERY:
            _SYNC_RANGE(self.fd, self._synced, self.written - self._synced, _SYNC_FILE_RANGE_WRITE)
            self._synced = self.written

    def finish(self) -> str:
        """Raise the refusal if there was one, else make the data durable; the SHA-256 of what was written."""
        if self.refusal is not None:
            raise StorageError(self.refusal)
        if self.durable:
            os.fsync(self.fd)
        return self.digest.hexdigest()


def open_target(path: str, flags: int, direct: bool) -> int:
    """Open the receiving end, with O_DIRECT when asked and the file system allows it."""
    if direct and hasattr(os, "O_DIRECT"):
        try:
            return os.open(path, flags | os.O_DIRECT, 0o600)
        except OSError as err:
            if err.errno != errno.EINVAL:  # EINVAL: no O_DIRECT here (tmpfs)
                raise
    return os.open(path, flags, 0o600)


def receive_stream(stream: BinaryIO, sink: Sink) -> str:
    """Read frames from the TLS stream (after the token line) into `sink` until the end frame."""
    header = memoryview(bytearray(HEADER))

    def fill(block: memoryview) -> int:
        read_exactly(stream, header)
        (length,) = FRAME.unpack(header)
        if length > MAX_FRAME:
            raise StorageError(f"disk transfer frame of {length} bytes is too large")
        if length:
            read_exactly(stream, block[:length])
        return length

    Pipeline(MAX_FRAME, "disk-receive-read").run(fill, sink.take)
    return sink.finish()


def close(tls: socket.socket) -> None:
    """End the TLS session politely (close_notify both ways, briefly waited for), then the socket."""
    with contextlib.suppress(OSError, ValueError):
        tls.settimeout(CLOSE_TIMEOUT)
        tls.unwrap()  # type: ignore[attr-defined]
    tls.close()


def shut(sock: socket.socket | None) -> None:
    """Wake a thread blocked on `sock` (its calls then fail); the TLS state is left to that thread."""
    if sock is not None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
