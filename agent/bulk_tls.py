"""TLS on a blocking socket through memory BIOs, the ciphertext moved in large pieces (disk streams).

Why not `SSLContext.wrap_socket`: an `ssl.SSLSocket` makes one system call per TLS record and two on
the receiving side (the record's 5-byte header, then its body): 65,536 writes and 131,072 reads per
GiB of 16 KiB records, each one a trip through the TCP stack. Here OpenSSL encrypts into and decrypts
from memory (`SSLContext.wrap_bio`, the same context, so the same mutual certificate check, protocol
versions and ciphers) and the socket moves up to PIECE bytes of ciphertext per call. Measured with
bench/bench_disk_stream.py (doc/design/015-disk-streams-and-exports.md, "Speed").

The socket's timeout applies to every send and receive, as it did to the TLS socket. The peer ending
the connection (with or without close_notify) reads as the end of the stream, as `SSLSocket.recv_into`
reports it (0 bytes); a broken record or a failed handshake raises `ssl.SSLError`.
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
