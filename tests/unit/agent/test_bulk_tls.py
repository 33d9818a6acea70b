"""agent.bulk_tls: the disk stream's receiving TLS end, done in memory over a plain socket.

The far end is an ordinary `ssl.SSLSocket` (what a sending node uses), on a socket pair, both ends with
the nodes' real mutual-TLS contexts (gnt.certs).
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import disk_stream
from agent.bulk_tls import BulkTLS
from gnt import certs

MIB = 1024 * 1024
RECORD = 16 * 1024


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("tls") / "cluster.pem"
    certs.write_pem(str(path), certs.generate_pem("cluster.example.com"))
    return str(path)


class CountingSocket:
    """The receiving socket, counting the system calls BulkTLS makes on it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.receives = 0

    def recv_into(self, view: memoryview) -> int:
        self.receives += 1
        return self.sock.recv_into(view)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


@pytest.fixture
def pair(pem: str) -> Iterator[Callable[..., tuple[BulkTLS, CountingSocket, threading.Thread, list[Any]]]]:
    """A receiving BulkTLS and a sending SSLSocket thread running `send(tls)`; its result or error in `out`."""
    opened: list[socket.socket] = []

    def make(send: Callable[[ssl.SSLSocket], Any], sender_pem: str | None = None) -> Any:
        ours, theirs = socket.socketpair()
        opened.extend((ours, theirs))
        for sock in (ours, theirs):
            sock.settimeout(10)
        out: list[Any] = []

        def run() -> None:
            try:
                tls = certs.client_context(sender_pem or pem).wrap_socket(theirs)
                out.append(send(tls))
            except Exception as err:  # noqa: BLE001 - the test looks at it
                out.append(err)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        counting = CountingSocket(ours)
        return BulkTLS(counting, certs.server_context(pem), server_side=True), counting, thread, out  # type: ignore[arg-type]

    yield make
    for sock in opened:
        sock.close()


def test_a_large_stream_arrives_whole_in_far_fewer_reads_than_records(pair: Any) -> None:
    """The point of BulkTLS: an SSLSocket reads each 16 KiB record with two system calls (header, body)."""
    data = os.urandom(8 * MIB)

    def send(tls: ssl.SSLSocket) -> None:
        tls.sendall(b"token\n" + data[:100])
        tls.sendall(data[100:])
        disk_stream.close(tls)

    rcv, counting, thread, out = pair(send)
    assert disk_stream.read_line(rcv, disk_stream.TOKEN_LINE_MAX) == b"token\n"
    got = memoryview(bytearray(len(data)))
    assert rcv.readinto(got) == len(data) and got == data
    records = len(data) // RECORD
    assert counting.receives < records // 4
    rcv.close(disk_stream.CLOSE_TIMEOUT)
    thread.join(10)
    assert out == [None]


def test_a_line_and_the_data_after_it_in_one_record_are_both_kept(pair: Any) -> None:
    def send(tls: ssl.SSLSocket) -> None:
        tls.sendall(b"token\nrest-of-the-record")
        disk_stream.close(tls)

    rcv, _, thread, _ = pair(send)
    assert rcv.readline(128) == b"token\n"
    view = memoryview(bytearray(17))
    assert rcv.readinto(view) == 17 and view == b"rest-of-the-recor"
    assert rcv.recv_into(memoryview(bytearray(10))) == 1
    assert rcv.recv_into(memoryview(bytearray(10))) == 0  # close_notify: the end
    thread.join(10)


def test_a_line_longer_than_the_limit_is_cut_there_and_read_line_refuses_it(pair: Any) -> None:
    def send(tls: ssl.SSLSocket) -> None:
        tls.sendall(b"x" * 300 + b"\n")
        disk_stream.close(tls)

    rcv, _, thread, _ = pair(send)
    assert disk_stream.read_line(rcv, 128) == b""  # no newline within the limit: not a token
    assert rcv.readline(128) == b"x" * 128
    thread.join(10)


def test_a_peer_that_stops_mid_frame_reads_as_the_end_and_read_exactly_fails(pair: Any) -> None:
    handshaken, done = threading.Event(), threading.Event()

    def send(tls: ssl.SSLSocket) -> None:
        handshaken.wait(10)
        tls.sendall(b"\0" * 1000)
        socket.socket.shutdown(tls, socket.SHUT_WR)  # the end of the TCP stream, no close_notify
        done.wait(10)
        tls.close()

    rcv, _, thread, _ = pair(send)
    handshaken.set()
    try:
        with pytest.raises(ConnectionError, match="in the middle of a frame"):
            disk_stream.read_exactly(rcv, memoryview(bytearray(4096)))
    finally:
        done.set()
        thread.join(10)


def test_a_peer_that_dies_mid_frame_fails_the_read(pair: Any) -> None:
    handshaken = threading.Event()

    def send(tls: ssl.SSLSocket) -> None:
        handshaken.wait(10)
        tls.sendall(b"\0" * 1000)
        tls.close()  # with the receiver's session tickets unread: a reset

    rcv, _, thread, _ = pair(send)
    handshaken.set()
    thread.join(10)
    with pytest.raises(ConnectionError):
        disk_stream.read_exactly(rcv, memoryview(bytearray(4096)))


def test_answers_reach_the_sender(pair: Any) -> None:
    def send(tls: ssl.SSLSocket) -> bytes:
        tls.sendall(b"token\n")
        answer = disk_stream.read_line(tls.makefile("rb"), disk_stream.ANSWER_MAX)
        disk_stream.close(tls)
        return answer

    rcv, _, thread, out = pair(send)
    assert rcv.readline(128) == b"token\n"
    rcv.sendall(b"ok 12 abc\n")
    rcv.close(disk_stream.CLOSE_TIMEOUT)
    thread.join(10)
    assert out == [b"ok 12 abc\n"]


def test_a_sender_without_the_cluster_certificate_fails_the_handshake(pair: Any, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    certs.write_pem(str(other), certs.generate_pem("intruder"))
    with pytest.raises(ssl.SSLError):
        pair(lambda tls: None, sender_pem=str(other))
