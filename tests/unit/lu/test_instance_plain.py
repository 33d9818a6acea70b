"""Plain (LVM) instances through the LUs on the in-process transport: create, remove, rollback,
a full volume group, moves refused, `gnt-node volumes`/`list-storage`, and `--vg-name`.

Each node double gets a volume group (`with_vg`): node_info reports its size and free space for
the VGs asked, and blockdev_create/remove take and give back space, refusing what does not fit
as the real driver does. The node's real dispatcher still confines every plain disk's
logical_id to the VGs its own lvm-volume-groups file allows (absent: xenvg only).
"""

from __future__ import annotations

from typing import Any

import pytest

from gnt.errors import ECODE_ENVIRON, ECODE_NORES, ECODE_STATE, OpExecError, OpPrereqError, StorageError
from gnt.instance.create import LUInstanceCreate
from gnt.instance.lifecycle import LUInstanceRemove
from gnt.instance.migrate import LUInstanceFailover, LUInstanceMigrate
from gnt.node.query import FIELDS, NodeQueryContext
from gnt.node.storage import LUNodeQueryStorage, LUNodeQueryvols
from gnt.opcodes import (
    OpClusterSetParams,
    OpInstanceCreate,
    OpInstanceFailover,
    OpInstanceMigrate,
    OpInstanceRemove,
    OpNodeQueryStorage,
    OpNodeQueryvols,
)
from tests.unit.lu.conftest import FakeNode, Harness


def with_vg(node: FakeNode, size: int = 4096, free: int = 4096, vg: str = "xenvg", allowed: bool = True) -> None:
    """Give the node double a volume group that behaves like the plain driver's (called again,
    the VG is replaced)."""
    state = getattr(node, "vg", None)
    if state is None:
        state = node.vg = {}  # type: ignore[attr-defined]
        _install_vg_handlers(node, state)
    state.update(name=vg, size=size, free=free, allowed=allowed)


def _install_vg_handlers(node: FakeNode, state: dict[str, Any]) -> None:
    plain_node_info, plain_create, plain_remove = node.do_node_info, node.do_blockdev_create, node.do_blockdev_remove

    def node_info(args: Any) -> dict[str, Any]:
        info = plain_node_info(args)
        for hv in info["hv"].values():
            hv.setdefault("memory_dom0", 512)  # what the allocator's model also reads
        for name in args.vg_names:
            entry: dict[str, Any] = {
                "type": "lvm-vg",
                "name": name,
                "allowed": state["allowed"] and name == state["name"],
            }
            if name == state["name"]:
                entry.update(total=state["size"], free=state["free"])
            else:
                entry["error"] = f"volume group {name} not found"
            info["storage"].append(entry)
        return info

    def create(args: Any) -> str:
        if args.disk.dev_type == "plain":
            vg, free = state["name"], state["free"]
            if args.disk.size > free:
                raise StorageError(
                    f"Not enough free space in volume group {vg} for logical volume {args.disk.logical_id[1]}:"
                    f" needed {args.disk.size} MiB, free {free} MiB of {state['size']} MiB"
                )
            state["free"] -= args.disk.size
        return plain_create(args)

    def remove(args: Any) -> None:
        if args.disk.uuid in node.disks and args.disk.dev_type == "plain":
            state["free"] += args.disk.size
        plain_remove(args)

    def lv_list(args: Any) -> list[dict[str, Any]]:
        return [
            {"vg": d.logical_id[0], "name": d.logical_id[1], "size": d.size, "phys": "/dev/vdb"}
            for d in node.disks.values()
            if d.dev_type == "plain" and d.logical_id[0] in args.vg_names
        ] + [{"vg": state["name"], "name": "stray", "size": 4, "phys": "/dev/vdb"}]

    node.do_node_info = node_info  # type: ignore[method-assign]
    node.do_blockdev_create = create  # type: ignore[method-assign]
    node.do_blockdev_remove = remove  # type: ignore[method-assign]
    node.do_lv_list = lv_list  # type: ignore[attr-defined]
    node.do_pv_list = lambda args: [  # type: ignore[attr-defined]
        {"vg": state["name"], "name": "/dev/vdb", "size": state["size"], "free": state["free"], "allocatable": True}
    ]


def vg_free(node: FakeNode) -> int:
    return int(node.vg["free"])  # type: ignore[attr-defined]


@pytest.fixture
def plain(harness: Harness) -> Harness:
    harness.cfg.cluster.enabled_disk_templates = ["plain", "file"]
    for name in ("node1", "node2"):
        with_vg(harness.nodes[name])
    return harness


def create(name: str = "inst1", **kw: object) -> OpInstanceCreate:
    fields: dict[str, object] = {
        "instance_name": name,
        "disk_template": "plain",
        "disks": [{"size": 512}, {"size": 256}],
        "os_type": "noop",
        "pnode": "node1",
        "beparams": {"memory": 128},
    }
    fields.update(kw)
    return OpInstanceCreate(**fields)  # type: ignore[arg-type]


def test_create_plain_makes_one_lv_per_disk_in_the_clusters_vg(plain: Harness) -> None:
    node = plain.nodes["node1"]
    assert plain.run(create(), LUInstanceCreate) == ["node1"]
    inst = plain.cfg.instance("inst1")
    assert [d.logical_id for d in inst.disks] == [["xenvg", f"{d.uuid}.disk{i}"] for i, d in enumerate(inst.disks)]
    assert sorted(d.size for d in node.disks.values()) == [256, 512]
    assert vg_free(node) == 4096 - 768
    asked = [a for n, a in node.calls if n == "node_info" and a.vg_names]
    assert asked and asked[0].vg_names == ["xenvg"]
    assert "inst1" in node.running and plain.nodes["node2"].disks == {}


def test_create_plain_in_the_vg_named_by_the_cluster(plain: Harness) -> None:
    plain.cfg.cluster.volume_group_name = "gntvg"
    with_vg(plain.nodes["node1"], vg="gntvg")
    # the node's own file does not list gntvg: its dispatcher refuses the disk before any handler runs
    with pytest.raises(OpExecError, match="volume group gntvg is not one this node allows"):
        plain.run(create(), LUInstanceCreate)
    assert plain.nodes["node1"].disks == {} and plain.cfg.find_instance("inst1") is None


def test_vg_too_small_is_refused_before_anything_is_created(plain: Harness) -> None:
    with_vg(plain.nodes["node1"], size=4096, free=700)
    with pytest.raises(OpPrereqError, match="Not enough disk space on target node node1 vg xenvg: required 768 MiB,"
                       " available 700 MiB") as err:  # fmt: skip
        plain.run(create(), LUInstanceCreate)
    assert err.value.code == ECODE_NORES
    assert "blockdev_create" not in plain.nodes["node1"].names()


def test_a_node_without_the_vg_is_a_clear_environment_error(plain: Harness) -> None:
    with_vg(plain.nodes["node1"], vg="othervg")
    with pytest.raises(OpPrereqError, match="Volume group xenvg is not usable on node node1: volume group xenvg not"
                       " found") as err:  # fmt: skip
        plain.run(create(), LUInstanceCreate)
    assert err.value.code == ECODE_ENVIRON


def test_vg_full_at_the_second_disk_rolls_back_the_first(plain: Harness) -> None:
    node = plain.nodes["node1"]
    node.fail["blockdev_create"] = StorageError(
        'lvcreate failed (exit 5): Volume group "xenvg" has insufficient free space (63 extents): 64 required.'
    )
    node.fail_on["blockdev_create"] = 2
    with pytest.raises(OpExecError, match="Can't create disk 1 of instance inst1 on node node1: lvcreate failed"):
        plain.run(create(), LUInstanceCreate)
    assert node.disks == {} and vg_free(node) == 4096
    assert plain.cfg.find_instance("inst1") is None
    removed = [a.disk.index for n, a in node.calls if n == "blockdev_remove"]
    assert sorted(removed) == [0, 1]  # the failed one too: lvcreate may have left part of it


def test_vg_filled_by_someone_else_after_the_check_leaves_nothing_behind(plain: Harness) -> None:
    """The prerequisite saw room; by the second disk another LV took the space, and the node's
    driver refuses (its own facts): the first LV goes, the config never sees the instance."""
    node = plain.nodes["node1"]
    original = node.do_blockdev_create

    def squeeze(args: Any) -> str:
        path = original(args)
        node.vg["free"] = 100  # type: ignore[attr-defined]  # someone else's lvcreate
        return path

    node.do_blockdev_create = squeeze  # type: ignore[method-assign]
    with pytest.raises(OpExecError, match="Not enough free space in volume group xenvg .* needed 256 MiB, free 100"):
        plain.run(create(), LUInstanceCreate)
    assert node.disks == {} and plain.cfg.find_instance("inst1") is None
    assert vg_free(node) == 100 + 512


def test_failed_start_removes_the_lvs_and_the_config_entry(plain: Harness) -> None:
    node = plain.nodes["node1"]
    node.fail["instance_start"] = OpExecError("guest crashed")
    with pytest.raises(OpExecError, match="Could not start instance inst1"):
        plain.run(create(), LUInstanceCreate)
    assert node.disks == {} and plain.cfg.find_instance("inst1") is None


def test_remove_plain_instance_removes_its_lvs(plain: Harness) -> None:
    plain.run(create(), LUInstanceCreate)
    node = plain.nodes["node1"]
    plain.run(OpInstanceRemove(instance_name="inst1"), LUInstanceRemove)
    assert node.disks == {} and vg_free(node) == 4096
    assert plain.cfg.find_instance("inst1") is None


@pytest.mark.parametrize(
    ("op", "lu", "word"),
    [(OpInstanceMigrate, LUInstanceMigrate, "migrations"), (OpInstanceFailover, LUInstanceFailover, "failovers")],
)
def test_moving_a_plain_instance_is_refused_as_ganeti_does(plain: Harness, op: Any, lu: Any, word: str) -> None:
    plain.run(create(), LUInstanceCreate)
    with pytest.raises(OpPrereqError, match=f"Instance's disk layout 'plain' does not allow {word}") as err:
        plain.run(op(instance_name="inst1", target_node="node2"), lu)
    assert err.value.code == ECODE_STATE
    assert plain.cfg.instance("inst1").primary_node == plain.cfg.node("node1").uuid
    assert not any(n.startswith(("accept", "migrate")) for n in plain.nodes["node2"].names())


def test_node_volumes_lists_lvs_with_their_instance(plain: Harness) -> None:
    plain.run(create(), LUInstanceCreate)
    inst = plain.cfg.instance("inst1")
    rows = plain.run(OpNodeQueryvols(output_fields=["node", "vg", "name", "size", "instance"]), LUNodeQueryvols)
    expected = sorted(["node1", "xenvg", d.logical_id[1], d.size, "inst1"] for d in inst.disks)
    assert rows == [*expected, ["node1", "xenvg", "stray", 4, "-"], ["node2", "xenvg", "stray", 4, "-"]]


def test_node_volumes_refuses_unknown_fields(plain: Harness) -> None:
    with pytest.raises(OpPrereqError, match="Unknown output fields selected: bogus"):
        plain.run(OpNodeQueryvols(output_fields=["node", "bogus"]), LUNodeQueryvols)


def test_list_storage_reports_size_used_and_free(plain: Harness) -> None:
    plain.run(create(), LUInstanceCreate)
    rows = plain.run(OpNodeQueryStorage(), LUNodeQueryStorage)
    assert rows == [
        ["node1", "lvm-vg", "xenvg", 4096, 768, 3328, True],
        ["node2", "lvm-vg", "xenvg", 4096, 0, 4096, True],
    ]
    with_vg(plain.nodes["node2"], vg="othervg")
    with pytest.raises(OpExecError, match="Can't get storage data from node node2: volume group xenvg not found"):
        plain.run(OpNodeQueryStorage(), LUNodeQueryStorage)
    with pytest.raises(OpPrereqError, match="Unknown storage type 'lvm-thin'"):
        plain.run(OpNodeQueryStorage(storage_type="lvm-thin"), LUNodeQueryStorage)


def test_list_storage_of_physical_volumes(plain: Harness) -> None:
    plain.run(create(), LUInstanceCreate)
    rows = plain.run(OpNodeQueryStorage(storage_type="lvm-pv"), LUNodeQueryStorage)
    assert rows == [
        ["node1", "lvm-pv", "/dev/vdb", 4096, 768, 3328, True],
        ["node2", "lvm-pv", "/dev/vdb", 4096, 0, 4096, True],
    ]
    only = plain.run(OpNodeQueryStorage(storage_type="lvm-pv", name="/dev/sdz", nodes=["node1"]), LUNodeQueryStorage)
    assert only == []


def test_node_dfree_is_the_vg_when_plain_is_enabled(plain: Harness) -> None:
    plain.run(create(), LUInstanceCreate)
    node = plain.cfg.node("node1")
    live = {"node1": plain.nodes["node1"].do_node_info(plain.ctx.services.node_info_args())}
    ctx = NodeQueryContext(plain.cfg, live)
    assert (FIELDS["dfree"].getter(node, ctx), FIELDS["dtotal"].getter(node, ctx)) == (3328, 4096)
    plain.cfg.cluster.enabled_disk_templates = ["file"]
    live = {"node1": plain.nodes["node1"].do_node_info(plain.ctx.services.node_info_args())}
    assert FIELDS["dfree"].getter(node, NodeQueryContext(plain.cfg, live)) == 90_000


@pytest.mark.parametrize(
    ("free1", "free2", "chosen", "other"), [(100, 4096, "node2", "node1"), (4096, 100, "node1", "node2")]
)
def test_allocator_places_plain_disks_where_the_vg_has_room(
    plain: Harness, free1: int, free2: int, chosen: str, other: str
) -> None:
    from gnt import constants

    plain.cfg.cluster.ipolicy = dict(constants.IPOLICY_DEFAULTS)  # as gnt-cluster init sets it
    with_vg(plain.nodes["node1"], free=free1)
    with_vg(plain.nodes["node2"], free=free2)
    assert plain.run(create(pnode=None), LUInstanceCreate) == [chosen]
    assert plain.nodes[chosen].disks and not plain.nodes[other].disks


def test_vg_name_change_is_checked_on_every_node(plain: Harness) -> None:
    with pytest.raises(OpPrereqError, match="Error on node 'node1': volume group 'gntvg' missing") as err:
        plain.run(OpClusterSetParams(vg_name="gntvg"), _set_params())
    assert err.value.code == ECODE_ENVIRON and plain.cfg.cluster.volume_group_name == "xenvg"
    for name in ("node1", "node2"):
        with_vg(plain.nodes[name], vg="gntvg")
    plain.run(OpClusterSetParams(vg_name="gntvg"), _set_params())
    assert plain.cfg.cluster.volume_group_name == "gntvg"


def test_enabling_plain_needs_an_allowed_vg_on_every_node(harness: Harness) -> None:
    with_vg(harness.nodes["node1"])
    with_vg(harness.nodes["node2"], allowed=False)
    with pytest.raises(OpPrereqError, match="Error on node 'node2': volume group 'xenvg' is not in the node's"):
        harness.run(OpClusterSetParams(enabled_disk_templates=["plain", "file"]), _set_params())
    assert "plain" not in harness.cfg.cluster.enabled_disk_templates


def test_vg_name_must_be_a_valid_lvm_name() -> None:
    with pytest.raises(OpPrereqError, match="invalid volume group name '-ay'"):
        _op_from({"vg_name": "-ay"})


def _op_from(data: dict[str, Any]) -> Any:
    from gnt.opcodes import from_dict

    return from_dict({"OP_ID": "OP_CLUSTER_SET_PARAMS", **data})


def _set_params() -> Any:
    from gnt.cluster.logic import LUClusterSetParams

    return LUClusterSetParams


def test_instance_disk_paths_are_the_lv_device_nodes(plain: Harness) -> None:
    from gnt.instance.query import FIELDS as INSTANCE_FIELDS

    plain.run(create(), LUInstanceCreate)
    inst = plain.cfg.instance("inst1")
    paths = INSTANCE_FIELDS["disk.paths"].getter(inst, None)
    assert paths == [f"/dev/xenvg/{d.uuid}.disk{i}" for i, d in enumerate(inst.disks)]


def test_verify_reports_unknown_and_missing_lvs_and_nodes_without_lvm(plain: Harness) -> None:
    from gnt import PROTOCOL_VERSION
    from gnt.cluster.logic import LUClusterVerify
    from gnt.opcodes import OpClusterVerify

    plain.run(create(), LUInstanceCreate)
    disk0, disk1 = plain.cfg.instance("inst1").disks
    base = {"version": PROTOCOL_VERSION, "hypervisors": {}, "disk_files": [], "ssconf": {}}
    volumes = [{"vg": "xenvg", "name": n, "size": 4, "phys": "/dev/vdb"} for n in (disk0.logical_id[1], "stray")]
    plain.nodes["node1"].do_node_verify = lambda args: {**base, "volumes": volumes}  # type: ignore[attr-defined]
    plain.nodes["node2"].do_node_verify = lambda args: {**base, "volumes_error": "vgs not found on this node"}  # type: ignore[attr-defined]
    assert plain.run(OpClusterVerify(), LUClusterVerify) is False
    errors = [line.strip() for line in plain.log if "ERROR" in line]
    assert "- ERROR: node node1: volume xenvg/stray is unknown" in errors
    assert f"- ERROR: instance inst1: volume xenvg/{disk1.logical_id[1]} missing on node node1" in errors
    assert "- ERROR: node node2: cannot list LVM volumes: vgs not found on this node" in errors
    assert not any(disk0.logical_id[1] in line for line in errors)
    asked = [a for n, a in plain.nodes["node1"].calls if n == "node_verify"]
    assert asked[0].vg_names == ["xenvg"]


def test_verify_does_not_call_reserved_lvs_unknown(plain: Harness) -> None:
    from gnt import PROTOCOL_VERSION
    from gnt.cluster.logic import LUClusterVerify
    from gnt.opcodes import OpClusterVerify

    plain.run(OpClusterSetParams(reserved_lvs=["xenvg/swap.*", "xenvg/root"]), _set_params())
    assert plain.cfg.cluster.reserved_lvs == ["xenvg/swap.*", "xenvg/root"]
    base = {"version": PROTOCOL_VERSION, "hypervisors": {}, "disk_files": [], "ssconf": {}}
    names = ("swap0", "root", "rootfs", "stray")
    volumes = [{"vg": "xenvg", "name": n, "size": 4, "phys": "/dev/vdb"} for n in names]
    for node in plain.nodes.values():
        node.do_node_verify = lambda args: {**base, "volumes": volumes}  # type: ignore[attr-defined]
    plain.run(OpClusterVerify(), LUClusterVerify)
    unknown = {line.split("volume ")[1] for line in plain.log if "is unknown" in line and "node1" in line}
    assert unknown == {"xenvg/rootfs is unknown", "xenvg/stray is unknown"}  # whole-name matches only


def test_reserved_lvs_must_be_regular_expressions() -> None:
    with pytest.raises(OpPrereqError, match="invalid regular expression 'xenvg/\\('"):
        _op_from({"reserved_lvs": ["xenvg/("]})


def test_modify_storage_sets_a_pvs_allocatable_flag_on_its_node(plain: Harness) -> None:
    from gnt.node.storage import LUNodeModifyStorage
    from gnt.opcodes import OpNodeModifyStorage

    op = OpNodeModifyStorage(node_name="node2", storage_type="lvm-pv", name="/dev/vdb", changes={"allocatable": False})
    plain.run(op, LUNodeModifyStorage)
    ((_, args),) = [c for c in plain.nodes["node2"].calls if c[0] == "storage_modify"]
    assert (args.storage_type, args.name, args.allocatable) == ("lvm-pv", "/dev/vdb", False)
    assert "storage_modify" not in plain.nodes["node1"].names()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"storage_type": "lvm-vg", "changes": {"allocatable": False}}, "Storage type 'lvm-vg' does not support"),
        ({"storage_type": "lvm-pv", "changes": {"size": 5}}, "Cannot change size of an lvm-pv"),
        ({"storage_type": "lvm-pv", "changes": {}}, "Cannot change nothing"),
        ({"storage_type": "lvm-pv", "changes": {"allocatable": "no"}}, "allocatable must be true or false"),
    ],
)
def test_modify_storage_refuses_what_it_cannot_change(plain: Harness, fields: dict[str, Any], message: str) -> None:
    from gnt.node.storage import LUNodeModifyStorage
    from gnt.opcodes import OpNodeModifyStorage

    with pytest.raises(OpPrereqError, match=message):
        plain.run(OpNodeModifyStorage(node_name="node1", name="/dev/vdb", **fields), LUNodeModifyStorage)
    assert "storage_modify" not in plain.nodes["node1"].names()


def test_repair_storage_runs_on_the_node_and_reports_its_error(plain: Harness) -> None:
    from gnt.node.storage import LURepairNodeStorage
    from gnt.opcodes import OpRepairNodeStorage

    op = OpRepairNodeStorage(node_name="node1", storage_type="lvm-vg", name="xenvg")
    plain.run(op, LURepairNodeStorage)
    assert "storage_repair" in plain.nodes["node1"].names()
    plain.nodes["node1"].fail["storage_repair"] = StorageError("vgreduce failed (exit 5): no quorum")
    with pytest.raises(OpExecError, match="Cannot repair lvm-vg xenvg on node node1: vgreduce failed"):
        plain.run(op, LURepairNodeStorage)
    with pytest.raises(OpPrereqError, match="Storage type 'lvm-pv' does not support"):
        plain.run(OpRepairNodeStorage(node_name="node1", storage_type="lvm-pv", name="/dev/vdb"), LURepairNodeStorage)
