"""Adoption through the LUs on the in-process transport: `--disk N:adopt=LV` for plain and
`-t blockdev --disk N:adopt=PATH`, with the real storage drivers behind the node doubles.

node1 runs the real plain driver against a fake LVM (`vgs`/`lvs` from a little table, `lvrename`
changing it) and the real blockdev driver against a fake probe (what a path is on the node), so
the node's own word on an adoption (missing, open, outside its roots, not a block device) is the
driver's, and the dispatcher confines every logical_id as on a real node.
"""

from __future__ import annotations

from typing import Any

import pytest

from gnt import serial
from gnt.errors import ECODE_EXISTS, ECODE_INVAL, OpExecError, OpPrereqError
from gnt.instance.create import LUInstanceCreate
from gnt.instance.lifecycle import LUInstanceRemove
from gnt.instance.migrate import LUInstanceFailover
from gnt.opcodes import OpInstanceCreate, OpInstanceFailover, OpInstanceRemove
from storage.block import AdoptedDevice, DeviceFacts
from storage.lvm import PlainDevice
from storage.lvm.run import LvmCommandError
from tests.unit.lu.conftest import FakeNode, Harness

MIB = 1024 * 1024
LUN = "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4"


class FakeLvm:
    """`vgs`, `lvs` and `lvrename` of one volume group, xenvg; `lvs` answers from `lvs`."""

    def __init__(self) -> None:
        self.lvs: dict[str, tuple[int, str]] = {}  # name -> (MiB, lv_attr)
        self.calls: list[list[str]] = []
        self.fail_rename: str | None = None

    async def __call__(self, argv: list[str]) -> str:
        self.calls.append(argv)
        if argv[0] == "vgs":
            return "  xenvg|4092.00|3000.00|4.00|2|1\n"
        if argv[0] == "lvs":
            return "".join(f"  xenvg|{n}|{s}.00|{a}|\n" for n, (s, a) in self.lvs.items())
        if argv[0] == "lvrename":
            _, _, old, new = argv
            if self.fail_rename == old:
                raise LvmCommandError("lvrename failed (exit 5): device busy", "device busy", 5)
            self.lvs[new] = self.lvs.pop(old)
            return ""
        if argv[0] == "lvremove":
            self.lvs.pop(argv[-1].split("/", 1)[1], None)
            return ""
        raise AssertionError(f"unexpected LVM command {argv}")


def with_storage(node: FakeNode, devices: dict[str, DeviceFacts]) -> FakeLvm:
    """Give the node double the real plain and blockdev drivers for adoption, rename and removal."""
    lvm = FakeLvm()
    look = lambda path: devices.get(path, DeviceFacts("missing"))  # noqa: E731
    drivers = {"plain": PlainDevice(lvm), "blockdev": AdoptedDevice(look)}
    plain_remove = node.do_blockdev_remove

    async def adoptable(args: Any) -> list[dict[str, Any]]:
        return [serial.to_dict(await drivers[d.dev_type].adoptable(d)) for d in args.disks]

    async def rename(args: Any) -> None:
        await drivers[args.disk.dev_type].rename(args.disk, list(args.new_logical_id))

    async def remove(args: Any) -> None:
        plain_remove(args)
        await drivers[args.disk.dev_type].remove(args.disk)

    node.do_blockdev_adoptable = adoptable  # type: ignore[attr-defined]
    node.do_blockdev_rename = rename  # type: ignore[attr-defined]
    node.do_blockdev_remove = remove  # type: ignore[method-assign,assignment]
    return lvm


@pytest.fixture
def adopt(harness: Harness) -> Harness:
    harness.cfg.cluster.enabled_disk_templates = ["plain", "blockdev", "file"]
    devices = {
        LUN: DeviceFacts("block", size=2048 * MIB),
        "/dev/disk/by-id/busy": DeviceFacts("block", busy=True),
        "/dev/disk/by-id/tty": DeviceFacts("char"),
    }
    for name in ("node1", "node2"):
        lvm = with_storage(harness.nodes[name], devices)
        harness.nodes[name].lvm = lvm  # type: ignore[attr-defined]
    harness.lvm = harness.nodes["node1"].lvm  # type: ignore[attr-defined]
    harness.lvm.lvs.update(olddata=(300, "-wi-a-----"), swap=(64, "-wi-ao----"), snap=(64, "swi-a-s---"))  # type: ignore[attr-defined]
    return harness


def create(disks: list[dict[str, Any]], template: str = "plain", **kw: Any) -> OpInstanceCreate:
    fields: dict[str, Any] = {
        "instance_name": "inst1",
        "disk_template": template,
        "disks": disks,
        "pnode": "node1",
        "beparams": {"memory": 128},
    }
    fields.update(kw)
    return OpInstanceCreate(**fields)


def test_adopting_an_lv_renames_it_to_the_instances_naming_and_takes_its_size(adopt: Harness) -> None:
    lvm = adopt.lvm  # type: ignore[attr-defined]
    assert adopt.run(create([{"adopt": "olddata"}], os_type="noop"), LUInstanceCreate) == ["node1"]
    (disk,) = adopt.cfg.instance("inst1").disks
    assert disk.size == 300 and disk.logical_id == ["xenvg", f"{disk.uuid}.disk0"]
    assert f"{disk.uuid}.disk0" in lvm.lvs and "olddata" not in lvm.lvs
    assert ["lvrename", "xenvg", "olddata", f"{disk.uuid}.disk0"] in lvm.calls
    node = adopt.nodes["node1"]
    assert "instance_os_add" not in node.names()  # adoption never installs the OS
    assert "blockdev_create" not in node.names() and "inst1" in node.running


def test_adoption_needs_no_os(adopt: Harness) -> None:
    adopt.run(create([{"adopt": "olddata"}], start=False), LUInstanceCreate)
    assert adopt.cfg.instance("inst1").disks[0].size == 300


@pytest.mark.parametrize(
    ("disks", "kw", "message"),
    [
        ([{"adopt": "olddata"}, {"size": 64}], {}, "Either all disks are adopted or none is"),
        ([{"adopt": "olddata", "size": 64}], {}, "give adopt or size, not both"),
        ([{"adopt": "olddata"}], {"iallocator": "hail", "pnode": None}, "not allowed with an iallocator"),
        ([{"adopt": "olddata"}], {"pnode": None}, "needs the primary node"),
        ([{"adopt": "-ay"}], {}, "invalid logical volume name '-ay'"),
        ([{"adopt": "a"}, {"adopt": "a"}], {}, "Duplicate names given for adoption: a"),
        ([{"adopt": "olddata"}], {"disk_template": "file"}, "not supported for the file disk template"),
    ],
)
def test_adoption_arguments_ganeti_refuses(adopt: Harness, disks: Any, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(OpPrereqError, match=message) as err:
        adopt.run(create(disks, **kw), LUInstanceCreate)
    assert err.value.code == ECODE_INVAL
    assert adopt.cfg.find_instance("inst1") is None


@pytest.mark.parametrize(
    ("lv", "message"),
    [
        ("missing", "Cannot adopt logical volume xenvg/missing: it does not exist on this node"),
        ("swap", "Cannot adopt logical volume xenvg/swap: it is in use \\(open\\) on this node"),
        ("snap", "Cannot adopt logical volume xenvg/snap: it is a snapshot"),
    ],
)
def test_the_node_refuses_a_missing_or_open_lv(adopt: Harness, lv: str, message: str) -> None:
    before = dict(adopt.lvm.lvs)  # type: ignore[attr-defined]
    with pytest.raises(OpPrereqError, match=f"Cannot adopt the disks of instance inst1 on node node1: .*{message}"):
        adopt.run(create([{"adopt": lv}], os_type="noop"), LUInstanceCreate)
    assert adopt.lvm.lvs == before and adopt.cfg.find_instance("inst1") is None  # type: ignore[attr-defined]


def test_an_lv_of_another_instance_cannot_be_adopted(adopt: Harness) -> None:
    adopt.run(create([{"adopt": "olddata"}], start=False), LUInstanceCreate)
    taken = adopt.cfg.instance("inst1").disks[0].logical_id[1]
    with pytest.raises(OpPrereqError, match=f"logical volume xenvg/{taken} is already used by instance inst1") as err:
        adopt.run(create([{"adopt": taken}], instance_name="inst2"), LUInstanceCreate)
    assert err.value.code == ECODE_EXISTS


def test_a_reserved_lv_cannot_be_adopted(adopt: Harness) -> None:
    adopt.cfg.cluster.reserved_lvs = ["xenvg/old.*"]
    with pytest.raises(OpPrereqError, match="logical volume xenvg/olddata is reserved"):
        adopt.run(create([{"adopt": "olddata"}]), LUInstanceCreate)
    assert "blockdev_adoptable" not in adopt.nodes["node1"].names()


def test_an_lv_in_a_vg_the_node_does_not_allow_is_refused_by_the_node(adopt: Harness) -> None:
    with pytest.raises(OpPrereqError, match="volume group hostvg is not one this node allows"):
        adopt.run(create([{"adopt": "root", "vg": "hostvg"}]), LUInstanceCreate)


def test_a_failed_rename_puts_the_earlier_lvs_back(adopt: Harness) -> None:
    lvm = adopt.lvm  # type: ignore[attr-defined]
    lvm.lvs["second"] = (100, "-wi-------")
    lvm.fail_rename = "second"
    with pytest.raises(OpExecError, match="Cannot rename logical volume xenvg/second of instance inst1 to .*busy"):
        adopt.run(create([{"adopt": "olddata"}, {"adopt": "second"}]), LUInstanceCreate)
    assert {"olddata", "second"} <= set(lvm.lvs) and not any(".disk" in n for n in lvm.lvs)
    assert adopt.cfg.find_instance("inst1") is None


def test_a_failed_start_gives_the_lv_back_under_its_old_name(adopt: Harness) -> None:
    lvm = adopt.lvm  # type: ignore[attr-defined]
    adopt.nodes["node1"].fail["instance_start"] = OpExecError("guest crashed")
    with pytest.raises(OpExecError, match="Could not start instance inst1"):
        adopt.run(create([{"adopt": "olddata"}]), LUInstanceCreate)
    assert lvm.lvs["olddata"] == (300, "-wi-a-----") and adopt.cfg.find_instance("inst1") is None
    assert "blockdev_remove" not in adopt.nodes["node1"].names()  # never deleted


def test_an_adopted_lv_is_the_instances_own_once_adopted(adopt: Harness) -> None:
    """As in Ganeti, removing the instance removes the (renamed) LV: it became the instance's disk."""
    adopt.run(create([{"adopt": "olddata"}]), LUInstanceCreate)
    adopt.run(OpInstanceRemove(instance_name="inst1"), LUInstanceRemove)
    assert not any(".disk" in n for n in adopt.lvm.lvs) and "olddata" not in adopt.lvm.lvs  # type: ignore[attr-defined]


# -- the blockdev template ------------------------------------------------------------------------


def test_blockdev_adopts_a_path_with_the_devices_size(adopt: Harness) -> None:
    adopt.run(create([{"adopt": LUN}], template="blockdev"), LUInstanceCreate)
    (disk,) = adopt.cfg.instance("inst1").disks
    assert (disk.size, disk.logical_id, disk.dev_type) == (2048, ["manual", LUN], "blockdev")
    assert "blockdev_rename" not in adopt.nodes["node1"].names()


def test_blockdev_needs_adoption(adopt: Harness) -> None:
    with pytest.raises(OpPrereqError, match="Disk template blockdev requires disk adoption"):
        adopt.run(create([{"size": 64}], template="blockdev"), LUInstanceCreate)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/dev/sda", "/dev/sda is outside the directories block devices may be adopted from"),
        ("/dev/disk/../sda", "must not contain '..'"),
        ("/dev/disk//by-id/x", "not in canonical form"),
        ("dev/disk/by-id/x", "is not an absolute path"),
        ("/dev/disk/by-id/gone", "Block device /dev/disk/by-id/gone not found on this node"),
        ("/dev/disk/by-id/tty", "/dev/disk/by-id/tty is not a block device \\(a character device\\)"),
        ("/dev/disk/by-id/busy", "Block device /dev/disk/by-id/busy is in use on this node"),
    ],
)
def test_blockdev_paths_refused(adopt: Harness, path: str, message: str) -> None:
    with pytest.raises(OpPrereqError, match=message):
        adopt.run(create([{"adopt": path}], template="blockdev"), LUInstanceCreate)
    assert adopt.cfg.find_instance("inst1") is None


def test_blockdev_removal_releases_the_device(adopt: Harness) -> None:
    adopt.run(create([{"adopt": LUN}], template="blockdev"), LUInstanceCreate)
    adopt.run(OpInstanceRemove(instance_name="inst1"), LUInstanceRemove)
    assert adopt.cfg.find_instance("inst1") is None
    assert [n for n, _ in adopt.nodes["node1"].calls if n == "blockdev_remove"]  # asked, and the driver only releases
    adopt.run(create([{"adopt": LUN}], template="blockdev", instance_name="inst2"), LUInstanceCreate)  # still there


def test_a_path_another_instance_holds_is_refused(adopt: Harness) -> None:
    adopt.run(create([{"adopt": LUN}], template="blockdev"), LUInstanceCreate)
    with pytest.raises(OpPrereqError, match=f"block device {LUN} is already used by instance inst1"):
        adopt.run(create([{"adopt": LUN}], template="blockdev", instance_name="inst2"), LUInstanceCreate)


def test_a_blockdev_instance_fails_over_to_a_node_that_sees_the_lun(adopt: Harness) -> None:
    adopt.run(create([{"adopt": LUN}], template="blockdev"), LUInstanceCreate)
    adopt.run(OpInstanceFailover(instance_name="inst1", target_node="node2"), LUInstanceFailover)
    assert adopt.cfg.instance("inst1").primary_node == adopt.cfg.node("node2").uuid
    assert "inst1" in adopt.nodes["node2"].running


def test_a_blockdev_instance_migrates_live(adopt: Harness) -> None:
    from gnt.instance.migrate import LUInstanceMigrate
    from gnt.opcodes import OpInstanceMigrate

    adopt.run(create([{"adopt": LUN}], template="blockdev"), LUInstanceCreate)
    adopt.run(OpInstanceMigrate(instance_name="inst1", target_node="node2"), LUInstanceMigrate)
    assert adopt.cfg.instance("inst1").primary_node == adopt.cfg.node("node2").uuid
    accepted = [a for n, a in adopt.nodes["node2"].calls if n == "accept_instance"]
    assert accepted and accepted[0].instance.disks[0].logical_id == ["manual", LUN]


def test_disks_cannot_be_added_to_a_blockdev_instance(adopt: Harness) -> None:
    from gnt.instance.lifecycle import LUInstanceSetParams
    from gnt.opcodes import OpInstanceSetParams

    adopt.run(create([{"adopt": LUN}], template="blockdev", start=False), LUInstanceCreate)
    op = OpInstanceSetParams(instance_name="inst1", disks=[["add", -1, {"size": 64}]])
    with pytest.raises(OpPrereqError, match="Disks cannot be added to blockdev instances: they are adopted") as err:
        adopt.run(op, LUInstanceSetParams)
    assert err.value.code == ECODE_INVAL and len(adopt.cfg.instance("inst1").disks) == 1
    assert "blockdev_create" not in adopt.nodes["node1"].names()
