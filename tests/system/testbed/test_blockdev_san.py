"""The blockdev driver for real: the test bed's shared disk (a SAN LUN attached to node1 and
node2) adopted on both hosts through the same /dev/disk/by-id path, which udev makes from the
disk's serial on each host, and the node's refusals on a real kernel (a path outside its roots,
`..`, a disk LVM holds).

The hosts boot without udev; the test starts it, as a host with a SAN would run it, so the
by-id names are the ones udev itself makes.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

LUN = "/dev/disk/by-id/virtio-shared"
DATA = "/dev/disk/by-id/virtio-data"

DRIVER_SCRIPT = textwrap.dedent(
    f"""
    import asyncio, json, os
    from gnt.errors import GntError
    from gnt.runtime import DiskSpec
    from storage.block import AdoptedDevice

    def disk(path):
        return DiskSpec(uuid="b1", index=0, size=0, dev_type="blockdev", logical_id=["manual", path])

    async def main():
        dev, out = AdoptedDevice(), {{}}
        info = await dev.adoptable(disk("{LUN}"))
        out["adopted"] = [info.path, info.size]
        out["assembled"] = await dev.assemble(disk("{LUN}"), "inst1")
        out["resolved"] = os.path.realpath("{LUN}")
        for name, path in (("outside", "/dev/vdd"), ("dotdot", "/dev/disk/by-id/../../vdd"), ("held", "{DATA}")):
            try:
                dev.node_paths(disk(path))
                await dev.adoptable(disk(path))
                out[name] = "adopted"
            except GntError as err:
                out[name] = f"{{type(err).__name__}}: {{err}}"
        out["held_size"] = (await dev.info(disk("{DATA}"))).size
        await dev.shutdown(disk("{LUN}"))
        await dev.remove(disk("{LUN}"))
        out["after_remove"] = (await dev.info(disk("{LUN}"))).exists
        print(json.dumps(out))

    asyncio.run(main())
    """
)


def _start_udev(host: Any) -> None:
    host.run(
        "$(command -v systemd-udevd || echo /lib/systemd/systemd-udevd) --daemon"
        " && udevadm trigger --action=add --subsystem-match=block && udevadm settle -t 60",
        timeout=120,
    )


def _adopt(host: Any) -> dict[str, Any]:
    host.run(f"cat > /tmp/blockdev.py <<'PYEOF'\n{DRIVER_SCRIPT}\nPYEOF")
    result = host.run("cd / && python3 /tmp/blockdev.py", timeout=120)
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_shared_lun_is_adopted_on_both_hosts_by_the_same_path(testbed: Any) -> None:
    node1, node2 = testbed["node1"], testbed["node2"]
    for host in (node1, node2):
        _start_udev(host)
    # node1's data disk holds an active LV: device-mapper holds the disk, so it is in use
    node1.run(
        "modprobe dm_mod && pvcreate -q /dev/vdb && vgcreate -q xenvg /dev/vdb && lvcreate -q -y -L 8m -n lv xenvg"
    )
    out1, out2 = _adopt(node1), _adopt(node2)
    for out in (out1, out2):
        assert out["adopted"] == [LUN, 256] and out["assembled"] == LUN  # 256M: the bed's shared disk
        assert out["resolved"] == "/dev/vdd"
        assert out["outside"].startswith("RpcArgumentError: blockdev disk b1: /dev/vdd is outside the directories")
        assert out["dotdot"].startswith("RpcArgumentError: blockdev disk b1: /dev/disk/by-id/../../vdd must not")
        assert out["after_remove"] is True  # released, never deleted
    assert (
        out1["held"] == f"StorageError: Block device {DATA} is in use on this node (mounted, or held by another device)"
    )
    assert out2["held"] == "adopted"  # node2's data disk is free
    assert out1["held_size"] == out2["held_size"] > 0  # a held device still reports its size
    # one LUN: what node1 writes through its by-id path, node2 reads through its own
    node1.run(f"echo adopted-on-$(hostname) | dd of={LUN} bs=512 conv=sync oflag=direct status=none")
    read = node2.run(f"dd if={LUN} bs=512 count=1 iflag=direct status=none | tr -d '\\0'").stdout
    assert read == "adopted-on-node1\n"
