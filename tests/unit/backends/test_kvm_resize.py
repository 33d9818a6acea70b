"""grow-disk's online half in the kvm driver: `block_resize` names the disk's QEMU node by the disk's
uuid (the guest's device map), never by its index in the config, which stops matching QEMU's
`disk<N>` once a disk was unplugged or hotplugged. A fake QMP peer on the guest's monitor socket
records what the driver sends."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from typing import Any

import pytest

from backends.kvm import KvmHypervisor
from gnt.errors import HypervisorError
from gnt.runtime import DiskSpec, InstanceSpec

MIB = 1024 * 1024
UUIDS = ["d0000000-0000-0000-0000-000000000000", "d1111111-1111-1111-1111-111111111111", "d2222222-2222-2222-2222-2222"]


class FakeQmpPeer:
    """A QMP server that greets, accepts capabilities and records every other command it is sent."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, Any]]] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        greeting = {
            "QMP": {"version": {"qemu": {"major": 8, "minor": 2, "micro": 0}, "package": ""}, "capabilities": []}
        }
        writer.write(json.dumps(greeting).encode() + b"\r\n")
        await writer.drain()
        buffer = ""
        while chunk := await reader.read(4096):  # a JSON stream, as QEMU parses it: no line breaks needed
            buffer += chunk.decode()
            while buffer.strip():
                try:
                    message, end = json.JSONDecoder().raw_decode(buffer.lstrip())
                except json.JSONDecodeError:
                    break
                buffer = buffer.lstrip()[end:]
                if message["execute"] != "qmp_capabilities":
                    self.commands.append((message["execute"], message.get("arguments", {})))
                reply: dict[str, Any] = {"return": {}}
                if "id" in message:
                    reply["id"] = message["id"]
                writer.write(json.dumps(reply).encode() + b"\r\n")
                await writer.drain()
        writer.close()


def _disk(uuid: str, index: int) -> DiskSpec:
    return DiskSpec(uuid=uuid, index=index, dev_type="plain", logical_id=["xenvg", uuid], size=64)


def _spec(uuids: list[str]) -> InstanceSpec:
    disks = [_disk(u, i) for i, u in enumerate(uuids)]
    return InstanceSpec(name="inst1", uuid="i-1", hypervisor="kvm", memory=128, vcpus=1, disks=disks)


async def _resize(driver: KvmHypervisor, spec: InstanceSpec, index: int, size: int) -> FakeQmpPeer:
    peer = FakeQmpPeer()
    server = await asyncio.start_unix_server(peer.serve, path=driver.paths_for(spec.name).qmp)
    async with server:
        await driver.resize_disk(spec, index, size)
    return peer


@pytest.fixture
def driver() -> KvmHypervisor:
    # a short directory: the monitor socket's path must fit in 108 bytes
    root = tempfile.mkdtemp(prefix="kvmrs-")
    os.makedirs(os.path.join(root, "inst1"))
    return KvmHypervisor(run_dir=root, data_dir=root, accel="tcg")


def _running(driver: KvmHypervisor, state: dict[str, Any]) -> None:
    """The guest's runtime state, its pid this test's own (alive for as long as the test runs)."""
    driver.save("inst1", {"pid": os.getpid(), "start_time": None, **state})


def test_resize_after_an_unplug_names_the_disk_by_uuid_not_by_index(driver: KvmHypervisor) -> None:
    boot = _spec(UUIDS[:3])
    devices = {u: {"node": f"disk{i}", "device": f"disk{i}-dev"} for i, u in enumerate(UUIDS[:3])}
    del devices[UUIDS[0]]  # disk 0 was unplugged: the config's disk 0 is now the boot-time disk1
    _running(driver, {"spec": {"disks": [{"uuid": u} for u in UUIDS[:3]]}, "devices": {"nics": {}, "disks": devices}})
    now = _spec(UUIDS[1:3])
    peer = asyncio.run(_resize(driver, now, 0, 96))
    assert peer.commands == [("block_resize", {"node-name": "disk1", "size": 96 * MIB})]
    assert boot.disks[1].uuid == now.disks[0].uuid


def test_resize_of_a_hotplugged_disk_names_its_hotplug_node(driver: KvmHypervisor) -> None:
    hot = "feedbeef-0000-0000-0000-000000000009"
    devices = {UUIDS[0]: {"node": "disk0", "device": "disk0-dev"}, hot: {"node": "hdiskfeedbeef", "device": "x"}}
    _running(driver, {"devices": {"nics": {}, "disks": devices}})
    peer = asyncio.run(_resize(driver, _spec([UUIDS[0], hot]), 1, 128))
    assert peer.commands == [("block_resize", {"node-name": "hdiskfeedbeef", "size": 128 * MIB})]


def test_resize_of_a_boot_time_disk_without_a_device_map_uses_its_boot_index(driver: KvmHypervisor) -> None:
    _running(driver, {"spec": {"disks": [{"uuid": u} for u in UUIDS[:2]]}})
    peer = asyncio.run(_resize(driver, _spec(UUIDS[:2]), 1, 80))
    assert peer.commands == [("block_resize", {"node-name": "disk1", "size": 80 * MIB})]


def test_resize_of_a_disk_the_guest_does_not_have_is_refused_before_qmp(driver: KvmHypervisor) -> None:
    _running(driver, {"devices": {"nics": {}, "disks": {UUIDS[0]: {"node": "disk0", "device": "disk0-dev"}}}})
    with pytest.raises(HypervisorError, match="is not plugged into the running guest"):
        asyncio.run(_resize(driver, _spec([UUIDS[0], UUIDS[1]]), 1, 80))
    with pytest.raises(HypervisorError, match="has no disk 5"):
        asyncio.run(_resize(driver, _spec([UUIDS[0]]), 5, 80))


def test_resize_of_a_guest_that_does_not_run_is_refused(driver: KvmHypervisor) -> None:
    with pytest.raises(HypervisorError, match="is not running on this node"):
        asyncio.run(driver.resize_disk(_spec(UUIDS[:1]), 0, 80))
