"""The plain driver for real: storage.lvm run by a test-bed host's python3 against lvm2 and
device-mapper in Debian's kernel (this machine's kernel has no device-mapper).

Each step goes through the driver's own functions (facts from vgs/lvs, the planned argv, the
asyncio runner), on the host's data disk made a volume group `xenvg`, and the test checks the
result with the host's own `lvs`, not with the driver.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

DRIVER_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from gnt.errors import GntError, StorageError
    from gnt.runtime import DiskSpec
    from storage.lvm import PlainDevice

    async def main():
        dev, out = PlainDevice(), {}
        disk = DiskSpec(uuid="u1", index=0, size=100, dev_type="plain", logical_id=["xenvg", "u1.disk0"])
        out["create"] = await dev.create(disk, "inst1")
        out["create_again"] = await dev.create(disk, "inst1")
        info = await dev.info(disk)
        out["size"] = info.size
        await dev.grow(disk, 64)
        grown = DiskSpec(uuid="u1", index=0, size=164, dev_type="plain", logical_id=["xenvg", "u1.disk0"])
        await dev.grow(disk, 64)  # retried: already at 100 + 64 (rounded up to whole extents)
        out["grown"] = (await dev.info(grown)).size
        out["snapshot"] = await dev.snapshot(grown, 32)
        await dev.shutdown(grown)
        out["assemble"] = await dev.assemble(grown, "inst1")
        await dev.rename(grown, ["xenvg", "u1.disk0_renamed"])
        renamed = DiskSpec(uuid="u1", index=0, size=164, dev_type="plain", logical_id=["xenvg", "u1.disk0_renamed"])
        big = DiskSpec(uuid="u2", index=0, size=100000, dev_type="plain", logical_id=["xenvg", "u2.disk0"])
        try:
            await dev.create(big, "inst2")
        except StorageError as err:
            out["full"] = str(err)
        try:
            novg = DiskSpec(uuid="u3", index=0, size=8, dev_type="plain", logical_id=["novg", "u3.disk0"])
            await dev.create(novg, "i")
        except GntError as err:
            out["refused"] = f"{type(err).__name__}: {err}"
        out["usage"] = await dev.vg_usage(["xenvg"])
        out["volumes"] = await dev.volumes(["xenvg"])
        out["pvs"] = await dev.physical_volumes(["xenvg"])
        await dev.remove(DiskSpec(uuid="u1", index=0, size=32, dev_type="plain", logical_id=["xenvg", "u1.disk0.snap"]))
        await dev.remove(renamed)
        await dev.remove(renamed)  # removing a missing LV succeeds
        out["after"] = (await dev.info(renamed)).exists
        print(json.dumps(out))

    asyncio.run(main())
    """
)


def _lvs(host: Any) -> list[list[str]]:
    out = host.run("lvs --noheadings --separator , -o lv_name,lv_size,lv_attr --units m --nosuffix xenvg").stdout
    return [line.strip().split(",") for line in out.splitlines() if line.strip()]


def test_plain_driver_creates_grows_snapshots_renames_and_removes_real_lvs(testbed: Any) -> None:
    host = testbed["node1"]
    host.run("modprobe dm_mod && pvcreate -q /dev/vdb && vgcreate -q xenvg /dev/vdb")
    host.run(f"cat > /tmp/driver.py <<'PYEOF'\n{DRIVER_SCRIPT}\nPYEOF")
    result = host.run("cd / && python3 /tmp/driver.py", timeout=300)
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["create"] == out["create_again"] == "/dev/xenvg/u1.disk0"
    assert out["size"] == 100 and out["grown"] == 164  # 4 MiB extents: 100 and 164 are whole extents
    assert out["snapshot"] == ["xenvg", "u1.disk0.snap"]
    assert out["assemble"] == "/dev/xenvg/u1.disk0"
    assert out["full"].startswith("Not enough free space in volume group xenvg for logical volume u2.disk0")
    assert out["refused"].startswith("RpcArgumentError: plain disk u3: volume group novg is not one this node allows")
    (usage,) = out["usage"]
    assert usage["name"] == "xenvg" and usage["allowed"] and 0 < usage["free"] < usage["total"]
    assert {(v["name"], v["size"], v["phys"]) for v in out["volumes"]} == {
        ("u1.disk0_renamed", 164, "/dev/vdb"),
        ("u1.disk0.snap", 32, "/dev/vdb"),
    }
    (pv,) = out["pvs"]
    assert (pv["name"], pv["vg"], pv["allocatable"], pv["free"]) == ("/dev/vdb", "xenvg", True, usage["free"])
    assert out["after"] is False
    assert _lvs(host) == []  # nothing left behind, by the host's own lvs


def test_full_vg_leaves_nothing_behind_and_says_so(testbed: Any) -> None:
    host = testbed["node1"]
    host.run("modprobe dm_mod && pvcreate -q /dev/vdb && vgcreate -q xenvg /dev/vdb")
    host.run("lvcreate -q -y -L 3g -n filler xenvg")
    script = (
        "import asyncio\n"
        "from gnt.runtime import DiskSpec\n"
        "from storage.lvm import PlainDevice\n"
        "d = DiskSpec(uuid='u', index=0, size=2048, dev_type='plain', logical_id=['xenvg', 'u.disk0'])\n"
        "asyncio.run(PlainDevice().create(d, 'i'))\n"
    )
    result = host.run(f'cd / && python3 -c "{script}"', check=False)
    assert result.rc != 0
    assert "StorageError: Not enough free space in volume group xenvg for logical volume u.disk0" in result.stderr
    assert [row[0] for row in _lvs(host)] == ["filler"]


def test_modify_and_repair_storage_on_a_real_volume_group(testbed: Any) -> None:
    host = testbed["node1"]
    host.run("modprobe dm_mod && pvcreate -q /dev/vdb && vgcreate -q xenvg /dev/vdb")
    script = (
        "import asyncio\n"
        "from storage.lvm import PlainDevice\n"
        "d = PlainDevice()\n"
        "asyncio.run(d.set_allocatable('/dev/vdb', False))\n"
        "print(asyncio.run(d.physical_volumes(['xenvg']))[0]['allocatable'])\n"
        "asyncio.run(d.set_allocatable('/dev/vdb', True))\n"
        "asyncio.run(d.repair('xenvg'))\n"
    )
    result = host.run(f'cd / && python3 -c "{script}"')
    assert result.stdout.strip() == "False"
    attr = host.run("pvs --noheadings -o pv_attr /dev/vdb").stdout.strip()
    assert attr.startswith("a")  # allocatable again
