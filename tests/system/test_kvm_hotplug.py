"""NIC and disk hotplug and ballooning on a real QEMU guest (the driver half of `gnt-instance modify
--hotplug / -m`): the guest sees the device appear and go; a failed hotplug leaves no tap, no
netdev and no device behind."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid

import pytest
from guest_console import GuestConsole, read_log, wait_ready
from kvmtest import make_disk, make_spec, run
from test_kvm_migration import assert_counter_continues, migrate

from backends.kvm.migration import disk_node
from gnt.errors import HypervisorError
from gnt.runtime import MigrationPhase, NicSpec, RunState

MIB = 1024 * 1024


async def _guest(node, spec, command: str, timeout: float = 60) -> str:  # type: ignore[no-untyped-def]
    async with GuestConsole(node.driver.paths_for(spec.name).serial) as console:
        return await console.check(command, timeout=timeout)


def _peripherals(node, spec) -> set[str]:  # type: ignore[no-untyped-def]
    return {p["name"] for p in run(node.driver.command(spec.name, "qom-list", {"path": "/machine/peripheral"}))}


def _links(netns: str) -> str:
    return subprocess.run(["ip", "-n", netns, "link"], capture_output=True, text=True, check=True).stdout


def test_guest_sees_a_hotplugged_nic_and_disk_come_and_go(make_node, netns) -> None:  # type: ignore[no-untyped-def]
    node = make_node(netns)
    spec = make_spec(nics=[NicSpec("n0", "aa:00:00:00:30:01", mode="bridged", link="br0")])
    run(node.driver.start(spec))
    run(wait_ready(node.driver.paths_for(spec.name).serial_log))
    assert "eth1" not in run(_guest(node, spec, "ls /sys/class/net"))

    nic = NicSpec(str(uuid.uuid4()), "aa:00:00:00:30:02", mode="bridged", link="br0")
    run(node.driver.hotplug_nic(spec, nic))
    tap = node.driver.load(spec.name)["devices"]["nics"][nic.uuid]["tap"]
    assert (
        tap
        in subprocess.run(["ip", "-n", netns, "link", "show", "master", "br0"], capture_output=True, text=True).stdout
    )
    run(
        _guest(
            node,
            spec,
            "for i in $(seq 50); do [ -e /sys/class/net/eth1 ] && break; sleep 0.2; done;"
            " cat /sys/class/net/eth1/address",
        )
    )

    path = os.path.join(node.disk_dir(), "hot.img")
    disk = make_disk(path, "file", size=16, index=1)
    run(node.driver.hotplug_disk(spec, disk, path))
    out = run(
        _guest(
            node,
            spec,
            "for i in $(seq 50); do [ -e /sys/block/vda ] && break; sleep 0.2; done; cat /sys/block/vda/size",
        )
    )
    assert out.strip().endswith(str(16 * 2048))  # 512-byte sectors

    run(node.driver.unplug_disk(spec, disk))
    run(node.driver.unplug_nic(spec, nic))
    assert not {f"hnic{nic.uuid[:8]}-dev", f"hdisk{disk.uuid.replace('-', '')[:8]}-dev"} & _peripherals(node, spec)
    listing = run(_guest(node, spec, "ls /sys/class/net /sys/block"))
    assert "eth1" not in listing and "vda" not in listing
    assert tap not in _links(netns)
    run(node.driver.stop(spec, 0, force=True))


def test_a_failed_nic_hotplug_leaves_nothing_behind(make_node, netns) -> None:  # type: ignore[no-untyped-def]
    node = make_node(netns)
    spec = make_spec()
    run(node.driver.start(spec))
    before, links = _peripherals(node, spec), _links(netns)
    nic = NicSpec(str(uuid.uuid4()), "aa:00:00:00:30:03", mode="bridged", link="nosuchbr")
    with pytest.raises(HypervisorError):
        run(node.driver.hotplug_nic(spec, nic))
    assert _peripherals(node, spec) == before and _links(netns) == links
    assert "devices" not in node.driver.load(spec.name)
    netdevs = run(node.driver.command(spec.name, "human-monitor-command", {"command-line": "info network"}))
    assert "hnic" not in netdevs
    run(node.driver.stop(spec, 0, force=True))


def _mem_total_kib(node, spec) -> int:  # type: ignore[no-untyped-def]
    out = run(_guest(node, spec, "grep MemTotal /proc/meminfo"))
    return int(re.search(r"MemTotal:\s+(\d+) kB", out).group(1))  # type: ignore[union-attr]


def test_balloon_sets_the_runtime_memory_and_the_guest_gives_it_back(make_node) -> None:  # type: ignore[no-untyped-def]
    node = make_node()
    spec = make_spec(memory=128)
    run(node.driver.start(spec))
    run(wait_ready(node.driver.paths_for(spec.name).serial_log))
    before = _mem_total_kib(node, spec)
    run(node.driver.balloon_memory(spec, 96))
    assert run(node.driver.instance_info(spec.name)).memory == 96
    assert "balloon0" in _peripherals(node, spec)
    # the guest's virtio_balloon driver inflates: QEMU sees 96 MiB, the guest 32 MiB less
    deadline = time.monotonic() + 60
    while run(node.driver.command(spec.name, "query-balloon"))["actual"] != 96 * MIB:
        assert time.monotonic() < deadline, "the guest never inflated its balloon"
        time.sleep(0.5)
    assert before - _mem_total_kib(node, spec) >= 31 * 1024
    run(node.driver.stop(spec, 0, force=True))
    with pytest.raises(HypervisorError, match="is not running"):
        run(node.driver.balloon_memory(spec, 64))


def _wait_in_guest(node, spec, path: str) -> None:  # type: ignore[no-untyped-def]
    """Until `path` exists in the guest (a TCG guest on a busy machine is slow to fork: few, slow
    iterations, and time for them)."""
    out = run(_guest(node, spec, f"for i in $(seq 60); do [ -e {path} ] && break; sleep 1; done; ls {path}", 180), 240)
    assert "No such file" not in out, out


def test_a_guest_migrates_live_after_a_nic_and_a_disk_were_hotplugged(make_node, netns) -> None:  # type: ignore[no-untyped-def]
    """After a hotplug the guest's devices are not where its config's command line puts them (other
    ids, other PCI slots); the target gets the source's layout and the guest carries on there."""
    src, dst = make_node(netns), make_node(netns)
    nic0 = NicSpec("n0", "aa:00:00:00:31:01", mode="bridged", link="br0")
    spec = make_spec(nics=[nic0], args="gnt.ip=10.8.0.2/24")
    run(src.driver.start(spec))
    src_log_path = src.driver.paths_for(spec.name).serial_log
    run(wait_ready(src_log_path))
    assert "eth1" not in run(_guest(src, spec, "ls /sys/class/net"))  # the guest is up and answers

    path = os.path.join(src.disk_dir(), "hot-local.qcow2")  # local: mirrored from its hotplug block node
    disk = make_disk(path, "file", "qcow2", size=16, index=0)
    run(src.driver.hotplug_disk(spec, disk, path))
    _wait_in_guest(src, spec, "/sys/block/vda")
    nic1 = NicSpec(str(uuid.uuid4()), "aa:00:00:00:31:02", mode="bridged", link="br0")
    run(src.driver.hotplug_nic(spec, nic1))  # one at a time, as two modify jobs would
    _wait_in_guest(src, spec, "/sys/class/net/eth1")
    run(_guest(src, spec, "echo hot-data > /tmp/d; dd if=/tmp/d of=/dev/vda bs=512 count=1 conv=fsync 2>&1"))

    spec.disks, spec.nics = [disk], [nic0, nic1]  # the config after modify --hotplug
    layout = run(src.driver.instance_info(spec.name)).extra["device_layout"]
    assert layout["disks"][disk.uuid]["node"] == disk_node(src.driver.load(spec.name), disk) != "disk0"
    spec.hvparams["device_layout"] = layout  # what the master passes on to the target's accept
    status = migrate(src, dst, spec)
    assert status.phase == MigrationPhase.COMPLETED, status.message
    src_log = read_log(src_log_path) if os.path.exists(src_log_path) else ""
    assert run(dst.driver.instance_info(spec.name)).state == RunState.RUNNING
    assert_counter_continues(src_log or "GNT-COUNTER 1", dst, spec.name)
    out = run(_guest(dst, spec, "cat /sys/class/net/eth1/address; echo 3 > /proc/sys/vm/drop_caches;"
                                " dd if=/dev/vda bs=512 count=1 2>/dev/null"))  # fmt: skip
    assert "aa:00:00:00:31:02" in out and "hot-data" in out
    # the target knows the devices by the source's ids: a later unplug there finds them
    assert {f"hnic{nic1.uuid[:8]}-dev", layout["disks"][disk.uuid]["device"]} <= _peripherals(dst, spec)
    run(dst.driver.unplug_nic(spec, nic1))
    assert "eth1" not in run(_guest(dst, spec, "sleep 1; ls /sys/class/net"))
    run(dst.driver.stop(spec, 0, force=True))
