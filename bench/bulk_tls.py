"""An experiment (bench/bench_disk_stream.py `bulk`): TLS on a blocking socket through memory BIOs.

Measured, not adopted: an `ssl.SSLSocket` reads each 16 KiB TLS record with two system calls (its
5-byte header, then its body), 131,072 per GiB, which py-spy shows as the receiving node's largest
item (`read`, ~31% of its busy samples in a move). Here OpenSSL decrypts from memory
(`SSLContext.wrap_bio`, the same context and so the same mutual certificate check) and the socket
moves up to PIECE bytes of ciphertext per call. The receiving end's system calls drop to ~1,000 per
GiB, but OpenSSL's memory BIO zeroes and copies every byte twice more (`BUF_MEM_grow_clean`,
`BIO_write`, `BIO_read`), and the sending end, with the same code, used more CPU: in a 1 GiB move the
two node daemons together spent as much or more (bench/results/move_cpu_profile.md). Sending
through a memory BIO was worse still (another two copies per byte against one `write` per record).

The peer ending the connection (with or without close_notify) reads as the end of the stream (0
bytes), as `SSLSocket.recv_into` reports it; a broken record or a failed handshake raises `ssl.SSLError`.
"""

from __future__ import annotations

import contextlib
import socket
import ssl

#: ciphertext moved per system call (64 TLS records)
PIECE = 1024 * 1024


class BulkTLS:
    """One TLS session over `sock`, handshaken on creation; `sock` stays the caller's to shut down."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext, server_side: bool) -> None:
        self.sock = sock
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = ctx.wrap_bio(self._incoming, self._outgoing, server_side=server_side)
        self._cipher = memoryview(bytearray(PIECE))
        #: plaintext read past the end of a line (`readline`), handed out first
        self._pending = bytearray()
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
        self._flush()

    def _flush(self) -> None:
        while self._outgoing.pending:
            self.sock.sendall(self._outgoing.read(PIECE))

    def _fill(self) -> None:
        count = self.sock.recv_into(self._cipher)
        if count:
            self._incoming.write(self._cipher[:count])
        else:
            self._incoming.write_eof()  # the TLS layer says whether that was a clean end

    def sendall(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), PIECE):
            piece = view[start : start + PIECE]
            while piece:
                piece = piece[self._tls.write(piece) :]
            self._flush()

    def recv_into(self, view: memoryview) -> int:
        """Some plaintext into `view` (at most one record's worth); 0 once the peer has ended the stream."""
        if self._pending:
            count = min(len(view), len(self._pending))
            view[:count] = self._pending[:count]
            del self._pending[:count]
            return count
        while True:
            try:
                return self._tls.read(len(view), view)  # type: ignore[no-any-return]
            except ssl.SSLWantReadError:
                self._flush()  # what reading produced for the peer (a key update's answer)
                self._fill()
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return 0

    def readinto(self, view: memoryview) -> int:
        """Fill `view`; less only when the peer ended the stream."""
        got = 0
        while got < len(view):
            count = self.recv_into(view[got:])
            if not count:
                break
            got += count
        return got

    def readline(self, limit: int) -> bytes:
        """Up to and including the next newline, at most `limit` bytes (as `BufferedReader.readline`)."""
        chunk = memoryview(bytearray(max(limit, 1)))
        while True:
            end = self._pending.find(b"\n", 0, limit)
            if end >= 0 or len(self._pending) >= limit:
                size = end + 1 if end >= 0 else limit
                line = bytes(self._pending[:size])
                del self._pending[:size]
                return line
            pending, self._pending = self._pending, bytearray()
            count = self.recv_into(chunk)
            self._pending = pending + chunk[:count]
            if not count:
                line = bytes(self._pending)
                self._pending.clear()
                return line

    def close(self, timeout: float) -> None:
        """End the session politely (close_notify both ways, waited for up to `timeout`), then the socket."""
        with contextlib.suppress(OSError, ValueError):
            self.sock.settimeout(timeout)
            while True:
                try:
                    self._tls.unwrap()
                    self._flush()
                    break
                except ssl.SSLWantReadError:
                    self._flush()
                    count = self.sock.recv_into(self._cipher)
                    if not count:
                        break
                    self._incoming.write(self._cipher[:count])
        self.sock.close()
