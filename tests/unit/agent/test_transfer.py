"""agent.transfer: node-to-node disk streams over mutual TLS, the export directory and its confinement.

Both ends run in this process with the real dispatcher and handlers (one virtual node), over real
TLS sockets on loopback; a node daemon's checks are what a caller holding the certificate meets.
"""

from __future__ import annotations

import asyncio
import hashlib
import mmap
import os
import ssl
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import transfer
from agent.server import node_dispatcher
from gnt import certs, paths
from gnt.errors import GntError, RpcArgumentError, StorageError

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def cluster_pem() -> bytes:
    return certs.generate_pem("cluster.example.com")


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster_pem: bytes) -> Iterator[Path]:
    """A virtual node root with a cluster certificate and one finished export `src` (3 MiB + a bit)."""
    root = tmp_path / "node1"
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    os.makedirs(os.path.dirname(paths.cluster_cert()))
    certs.write_pem(paths.cluster_cert(), cluster_pem)
    src = Path(paths.export_dir()) / "src"
    src.mkdir(parents=True)
    (src / "disk0.dump").write_bytes(os.urandom(3 * MIB + 12345))
    (src / "config.ini").write_text("[export]\nversion = 0\n")
    transfer.RECEIVERS.clear()
    transfer.STAGED.clear()
    yield root
    transfer.RECEIVERS.clear()
    transfer.STAGED.clear()


def call(name: str, args: dict[str, Any]) -> Any:
    return asyncio.run(node_dispatcher().call(name, args))


async def _acall(name: str, args: dict[str, Any]) -> Any:
    return await node_dispatcher().call(name, args)


def _receive_into(name: str, **extra: Any) -> dict[str, Any]:
    return {"listen_address": "127.0.0.1", "export_name": name, "export_file": "disk0.dump", **extra}


def _send_from(ticket: dict[str, Any], name: str = "src", **extra: Any) -> dict[str, Any]:
    return {
        "address": "127.0.0.1",
        "port": ticket["port"],
        "transfer_id": ticket["transfer_id"],
        "export_name": name,
        "export_file": "disk0.dump",
        **extra,
    }


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("compress", ["none", "gzip", "gzip-fast", "gzip-slow"])
def test_a_stream_lands_whole_and_both_ends_agree_on_its_checksum(
    node: Path, compress: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of Ganeti's gzip tools compresses at its own level (gzip 6, gzip-fast 1, gzip-slow 9)."""
    from agent import disk_stream

    levels: list[int] = []
    real = disk_stream.zlib.compressobj
    monkeypatch.setattr(disk_stream.zlib, "compressobj", lambda level, *a: levels.append(level) or real(level, *a))
    source = Path(paths.export_dir()) / "src/disk0.dump"

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        ticket = await _acall("disk_receive", _receive_into("dst", compress=compress))
        sent = await _acall("disk_send", _send_from(ticket, compress=compress))
        return sent, await _acall("transfer_status", {"transfer_id": ticket["transfer_id"]})

    sent, status = asyncio.run(scenario())
    staged = Path(paths.export_dir()) / "dst.new/disk0.dump"
    assert sent == {"bytes": source.stat().st_size, "sha256": _sha(source)}
    assert status == {"bytes": source.stat().st_size, "done": True, "error": None}
    assert _sha(staged) == _sha(source)
    assert levels == ({"none": [], "gzip": [6], "gzip-fast": [1], "gzip-slow": [9]})[compress]
    assert call("export_list", {}) == ["src"]  # still staged: not an export yet
    call("export_finalize", {"name": "dst", "config": "[export]\nversion = 0\n"})
    assert call("export_list", {}) == ["dst", "src"]
    assert not staged.parent.exists()
    assert call("export_info", {"name": "dst"}).startswith("[export]")
    final = Path(paths.export_dir()) / "dst"
    assert [oct(p.stat().st_mode & 0o077) for p in (final, final / "config.ini", final / "disk0.dump")] == ["0o0"] * 3


def test_a_stream_without_the_token_is_refused_and_the_real_one_still_lands(node: Path) -> None:
    async def scenario() -> dict[str, Any]:
        ticket = await _acall("disk_receive", _receive_into("dst"))
        ctx = certs.client_context(paths.cluster_cert())
        reader, writer = await asyncio.open_connection("127.0.0.1", ticket["port"], ssl=ctx)
        writer.write(b"not-the-token\n" + struct.pack("!I", 4) + b"evil" + struct.pack("!I", 0))
        await writer.drain()
        assert await reader.read() == b""  # closed without an answer
        writer.close()
        return await _acall("disk_send", _send_from(ticket))

    sent = asyncio.run(scenario())
    assert _sha(Path(paths.export_dir()) / "dst.new/disk0.dump") == sent["sha256"]


def test_a_peer_without_the_cluster_certificate_cannot_connect(node: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    certs.write_pem(str(other), certs.generate_pem("intruder"))

    async def scenario() -> dict[str, Any]:
        ticket = await _acall("disk_receive", _receive_into("dst"))
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(str(other))
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", ticket["port"], ssl=ctx)
            writer.write(ticket["transfer_id"].encode() + b"\n" + struct.pack("!I", 0))
            await writer.drain()
            await reader.read()
        except (ssl.SSLError, ConnectionError):
            pass
        return await _acall("transfer_status", {"transfer_id": ticket["transfer_id"]})

    status = asyncio.run(scenario())
    assert status["done"] is False and status["bytes"] == 0


def test_a_sender_that_breaks_off_leaves_no_staging_directory(node: Path) -> None:
    async def scenario() -> dict[str, Any]:
        ticket = await _acall("disk_receive", _receive_into("dst"))
        ctx = certs.client_context(paths.cluster_cert())
        reader, writer = await asyncio.open_connection("127.0.0.1", ticket["port"], ssl=ctx)
        writer.write(ticket["transfer_id"].encode() + b"\n" + struct.pack("!I", 100) + b"x" * 10)
        await writer.drain()
        writer.close()  # the sending node died mid-frame
        await reader.read()
        for _ in range(200):
            status = await _acall("transfer_status", {"transfer_id": ticket["transfer_id"]})
            if status["error"]:
                return status  # type: ignore[no-any-return]
            await asyncio.sleep(0.01)
        return status  # type: ignore[no-any-return]

    status = asyncio.run(scenario())
    assert status["done"] is False and status["error"]
    assert not (Path(paths.export_dir()) / "dst.new").exists()
    assert call("export_list", {}) == ["src"]


def test_a_receiver_that_goes_away_mid_copy_fails_the_sender(node: Path) -> None:
    """A receiving node that dies after some data: the sender reports it, it never reports success."""

    async def scenario() -> None:
        async def dying(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readline()
            await reader.readexactly(64 * 1024)
            writer.close()

        server = await asyncio.start_server(dying, "127.0.0.1", 0, ssl=certs.server_context(paths.cluster_cert()))
        port = server.sockets[0].getsockname()[1]
        try:
            await _acall("disk_send", _send_from({"port": port, "transfer_id": "t"}))
        finally:
            server.close()

    with pytest.raises(StorageError, match="broke off|refused the data"):
        asyncio.run(scenario())


def test_an_aborted_receiver_closes_its_port_and_removes_the_staged_export(node: Path) -> None:
    async def scenario() -> dict[str, Any]:
        ticket = await _acall("disk_receive", _receive_into("dst"))
        await _acall("transfer_abort", {"transfer_id": ticket["transfer_id"]})
        try:
            await _acall("disk_send", _send_from(ticket))
        except StorageError as err:
            return {"error": str(err)}
        return {}

    outcome = asyncio.run(scenario())
    assert "Cannot connect" in outcome["error"]
    assert not (Path(paths.export_dir()) / "dst.new").exists()


def test_a_staging_directory_left_by_a_dead_daemon_is_swept(node: Path) -> None:
    stale = Path(paths.export_dir()) / "old.new"
    stale.mkdir()
    (stale / "disk0.dump").write_bytes(b"half")
    assert call("export_list", {}) == ["src"]
    assert not stale.exists()


def test_staging_of_a_multi_disk_export_survives_between_its_disks(node: Path) -> None:
    async def scenario() -> None:
        first = await _acall("disk_receive", _receive_into("dst"))
        await _acall("disk_send", _send_from(first))
        await _acall("transfer_abort", {"transfer_id": first["transfer_id"]})  # the master forgets it
        second = await _acall("disk_receive", {**_receive_into("dst"), "export_file": "disk1.dump"})
        await _acall("disk_send", _send_from(second))

    asyncio.run(scenario())
    assert sorted(p.name for p in (Path(paths.export_dir()) / "dst.new").iterdir()) == ["disk0.dump", "disk1.dump"]


BAD_ENDS: list[tuple[dict[str, Any], type[GntError]]] = [
    ({"export_name": "../etc", "export_file": "disk0.dump"}, RpcArgumentError),
    ({"export_name": "/etc", "export_file": "disk0.dump"}, RpcArgumentError),
    ({"export_name": "a/b", "export_file": "disk0.dump"}, RpcArgumentError),
    ({"export_name": "dst", "export_file": "../../../../x"}, RpcArgumentError),
    ({"export_name": "dst", "export_file": "config.ini"}, RpcArgumentError),
    ({"export_name": "dst", "export_file": "/etc/passwd"}, RpcArgumentError),
    ({"export_name": "", "export_file": ""}, RpcArgumentError),
    ({"export_name": "dst", "export_file": "disk0.dump", "compress": "lzma"}, RpcArgumentError),
    (
        {
            "export_name": "dst",
            "export_file": "disk0.dump",
            "disk": {"uuid": "d", "index": 0, "size": 1, "dev_type": "file", "logical_id": ["loop", "/etc/x"]},
        },
        RpcArgumentError,
    ),
]


@pytest.mark.parametrize(("end", "error"), BAD_ENDS)
def test_transfer_ends_outside_the_export_dir_or_storage_are_refused(
    node: Path, end: dict[str, Any], error: type[GntError]
) -> None:
    before = sorted(str(p) for p in node.rglob("*"))
    with pytest.raises(error):
        call("disk_receive", {"listen_address": "127.0.0.1", **end})
    with pytest.raises(error):
        call("disk_send", {"address": "127.0.0.1", "port": 1, "transfer_id": "t", **end})
    assert sorted(str(p) for p in node.rglob("*")) == before


@pytest.mark.parametrize("procedure", ["export_info", "export_remove", "export_finalize"])
@pytest.mark.parametrize("name", ["..", "../node2", "/srv", "a/b", ""])
def test_export_procedures_refuse_names_that_are_not_instance_names(node: Path, procedure: str, name: str) -> None:
    args: dict[str, Any] = {"name": name}
    if procedure == "export_finalize":
        args["config"] = "x"
    with pytest.raises(RpcArgumentError):
        call(procedure, args)
    assert (Path(paths.export_dir()) / "src/disk0.dump").exists()


def test_a_symlinked_export_file_pointing_outside_is_refused(node: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("precious")
    link = Path(paths.export_dir()) / "evil"
    link.mkdir()
    (link / "disk0.dump").symlink_to(secret)
    with pytest.raises(RpcArgumentError, match="outside the export directory"):
        call("disk_send", {"address": "127.0.0.1", "port": 1, "transfer_id": "t", "export_name": "evil",
                           "export_file": "disk0.dump"})  # fmt: skip


def test_a_stream_longer_than_the_target_disk_is_refused(node: Path) -> None:
    disk_file = node / "srv/gnt/file-storage/inst1/disk0"
    disk_file.parent.mkdir(parents=True)
    disk_file.write_bytes(b"\0" * MIB)
    disk = {
        "uuid": "d0",
        "index": 0,
        "size": 1,
        "dev_type": "file",
        "logical_id": ["loop", "/srv/gnt/file-storage/inst1/disk0"],
    }

    async def scenario() -> None:
        ticket = await _acall("disk_receive", {"listen_address": "127.0.0.1", "disk": disk, "instance_name": "inst1"})
        await _acall("disk_send", _send_from(ticket))  # the export's dump is 3 MiB

    with pytest.raises(
        StorageError, match="The receiving node refused the data: the stream is larger than the target disk"
    ):
        asyncio.run(scenario())
    assert disk_file.stat().st_size == MIB  # never grown


def test_a_highly_compressible_stream_is_inflated_in_bounded_pieces(node: Path) -> None:
    zeros = Path(paths.export_dir()) / "zeros"
    zeros.mkdir()
    (zeros / "disk0.dump").write_bytes(b"\0" * (48 * MIB))

    async def scenario() -> dict[str, Any]:
        ticket = await _acall("disk_receive", _receive_into("dst", compress="gzip"))
        return await _acall("disk_send", _send_from(ticket, name="zeros", compress="gzip"))  # type: ignore[no-any-return]

    sent = asyncio.run(scenario())
    landed = Path(paths.export_dir()) / "dst.new/disk0.dump"
    assert sent["bytes"] == landed.stat().st_size == 48 * MIB
    assert _sha(landed) == sent["sha256"]


def test_inflating_never_yields_more_than_one_frame_at_a_time() -> None:
    import zlib

    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = deflate.compress(b"\0" * (64 * MIB)) + deflate.flush()
    assert len(bomb) < 256 * 1024
    pieces = list(transfer._inflated(zlib.decompressobj(wbits=31), bomb))
    assert max(len(p) for p in pieces) <= transfer._MAX_FRAME and sum(map(len, pieces)) == 64 * MIB


def test_a_direct_write_target_takes_aligned_blocks_directly_and_an_unaligned_tail_buffered(tmp_path: Path) -> None:
    """The receiver writes uncompressed blocks with O_DIRECT (no page-cache copy); the stream's tail
    is not a multiple of the alignment, so the descriptor falls back to buffered writes for it."""
    from agent import disk_stream

    target = tmp_path / "disk"
    target.write_bytes(b"")
    fd = disk_stream.open_target(str(target), os.O_WRONLY, direct=True)
    try:
        sink = disk_stream.Sink(fd, "none", None, lambda n: None)
        if not sink.direct:
            pytest.skip("this file system refuses O_DIRECT")
        block = memoryview(mmap.mmap(-1, 2 * MIB))
        data = os.urandom(2 * MIB)
        block[:] = data
        sink.take(block, MIB)
        assert sink.direct
        sink.take(block[MIB:], MIB - 100)  # the tail
        assert not sink.direct
        digest = sink.finish()
    finally:
        os.close(fd)
    written = data[:MIB] + data[MIB : 2 * MIB - 100]
    assert target.read_bytes() == written and digest == hashlib.sha256(written).hexdigest()
