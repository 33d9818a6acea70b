"""The cluster's drbd_usermode_helper (`--drbd-usermode-helper`), as Ganeti checks it: on every
vm_capable node when it changes or drbd gets enabled (`gnt-cluster modify`), and by verify
against what each node's loaded DRBD module reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gnt import PROTOCOL_VERSION
from gnt.cluster.logic import LUClusterSetParams, LUClusterVerify
from gnt.errors import ECODE_ENVIRON, ECODE_STATE, OpPrereqError, StorageError
from gnt.opcodes import OpClusterSetParams, OpClusterVerify, from_dict
from tests.unit.lu.conftest import Harness


def helpers(harness: Harness, **by_node: Any) -> None:
    """What each node's DRBD module runs (an exception: the module is not loaded)."""
    for name, node in harness.nodes.items():
        value = by_node.get(name, "/bin/true")

        def answer(args: Any, value: Any = value) -> str:
            if isinstance(value, Exception):
                raise value
            return str(value)

        node.do_drbd_helper = answer  # type: ignore[attr-defined]


@pytest.fixture
def drbd(harness: Harness) -> Harness:
    harness.cfg.cluster.enabled_disk_templates = ["drbd", "plain", "file"]
    helpers(harness)
    return harness


def test_the_default_helper_is_ganetis() -> None:
    from gnt.objects import Cluster

    assert Cluster().drbd_usermode_helper == "/bin/true"


def test_a_new_helper_is_checked_on_every_node_and_stored(drbd: Harness) -> None:
    helpers(drbd, node1="/usr/lib/drbd/helper", node2="/usr/lib/drbd/helper")
    drbd.run(OpClusterSetParams(drbd_helper="/usr/lib/drbd/helper"), LUClusterSetParams)
    assert drbd.cfg.cluster.drbd_usermode_helper == "/usr/lib/drbd/helper"
    assert all("drbd_helper" in drbd.nodes[n].names() for n in ("node1", "node2"))


def test_a_helper_a_node_does_not_run_is_refused(drbd: Harness) -> None:
    helpers(drbd, node1="/usr/lib/drbd/helper")
    with pytest.raises(OpPrereqError, match="Error on node 'node2': drbd usermode helper is /bin/true, should be"
                       " /usr/lib/drbd/helper") as err:  # fmt: skip
        drbd.run(OpClusterSetParams(drbd_helper="/usr/lib/drbd/helper"), LUClusterSetParams)
    assert err.value.code == ECODE_ENVIRON and drbd.cfg.cluster.drbd_usermode_helper == "/bin/true"


def test_enabling_drbd_needs_the_module_with_the_helper(harness: Harness) -> None:
    helpers(harness, node2=StorageError("The DRBD kernel module is not loaded on this node"))
    with pytest.raises(OpPrereqError, match="Error checking drbd helper on node 'node2': .*not loaded"):
        harness.run(OpClusterSetParams(enabled_disk_templates=["drbd", "file"]), _no_vg_check())
    assert "drbd" not in harness.cfg.cluster.enabled_disk_templates


def test_the_helper_cannot_be_unset_while_drbd_is_enabled(drbd: Harness) -> None:
    with pytest.raises(OpPrereqError, match="Cannot disable the drbd usermode helper while drbd is enabled") as err:
        drbd.run(OpClusterSetParams(drbd_helper=""), LUClusterSetParams)
    assert err.value.code == ECODE_STATE
    drbd.cfg.cluster.enabled_disk_templates = ["file"]
    drbd.run(OpClusterSetParams(drbd_helper=""), LUClusterSetParams)  # no drbd: nothing to check
    assert drbd.cfg.cluster.drbd_usermode_helper == ""
    assert "drbd_helper" not in drbd.nodes["node1"].names()


@pytest.mark.parametrize("bad", ["bin/true", "/bin/true --x"])
def test_the_helper_must_be_an_absolute_path(bad: object) -> None:
    with pytest.raises(OpPrereqError, match="drbd usermode helper must be an absolute path"):
        from_dict({"OP_ID": "OP_CLUSTER_SET_PARAMS", "drbd_helper": bad})


def _verify(harness: Harness, facts: dict[str, dict[str, Any]]) -> list[str]:
    base = {"version": PROTOCOL_VERSION, "hypervisors": {}, "disk_files": [], "ssconf": {}}
    for name, extra in facts.items():
        harness.nodes[name].do_node_verify = lambda args, extra=extra: {**base, **extra}  # type: ignore[attr-defined]
    harness.run(OpClusterVerify(), LUClusterVerify)
    return [line.strip() for line in harness.log if "drbd usermode helper" in line]


def test_verify_reports_a_wrong_or_unreadable_helper(drbd: Harness) -> None:
    lines = _verify(
        drbd,
        {
            "node1": {"drbd_helper": "/bin/true"},
            "node2": {"drbd_helper_error": "The DRBD kernel module is not loaded on this node"},
        },
    )
    assert lines == ["- ERROR: node node2: drbd usermode helper check unsuccessful: The DRBD kernel module is not"
                     " loaded on this node"]  # fmt: skip
    asked = [a for n, a in drbd.nodes["node1"].calls if n == "node_verify"]
    assert asked[-1].drbd is True
    drbd.log.clear()
    lines = _verify(drbd, {"node1": {"drbd_helper": "/sbin/drbdadm"}, "node2": {"drbd_helper": "/bin/true"}})
    assert lines == ["- ERROR: node node1: wrong drbd usermode helper: /sbin/drbdadm (the cluster's: /bin/true)"]


def test_verify_does_not_ask_without_drbd(harness: Harness) -> None:
    assert _verify(harness, {"node1": {}, "node2": {}}) == []
    asked = [a for n, a in harness.nodes["node1"].calls if n == "node_verify"]
    assert asked[-1].drbd is False


def test_the_node_reads_the_modules_parameter(tmp_path: Path) -> None:
    from storage.drbd import usermode_helper

    param = tmp_path / "usermode_helper"
    param.write_text("/bin/true\n")
    assert usermode_helper(str(param)) == "/bin/true"
    with pytest.raises(StorageError, match="The DRBD kernel module is not loaded on this node"):
        usermode_helper(str(tmp_path / "gone"))


def _no_vg_check() -> Any:
    """LUClusterSetParams without the volume group check (no VG in these node doubles)."""

    class NoVg(LUClusterSetParams):
        async def _check_volume_group(self) -> None:
            return None

    return NoVg


# -- -D drbd:resync-rate ---------------------------------------------------------------------------


def test_the_drbd_resync_rate_reaches_each_nodes_view(drbd: Harness) -> None:
    from gnt.instance.create import LUInstanceCreate
    from gnt.opcodes import OpInstanceCreate
    from tests.unit.lu.test_instance_drbd import in_sync, views
    from tests.unit.lu.test_instance_plain import with_vg

    for name in ("node1", "node2"):
        with_vg(drbd.nodes[name])
        drbd.nodes[name].do_drbd_status = in_sync  # type: ignore[attr-defined]
    drbd.run(OpClusterSetParams(diskparams={"drbd": {"resync-rate": 1000}}), LUClusterSetParams)
    assert drbd.cfg.cluster.diskparams == {"drbd": {"resync-rate": 1000}}
    op = OpInstanceCreate(
        instance_name="inst1", disk_template="drbd", disks=[{"size": 64}], os_type="noop", pnode="node1",
        snode="node2", beparams={"memory": 128},
    )  # fmt: skip
    drbd.run(op, LUInstanceCreate)
    assert [v["resync_rate"] for n in ("node1", "node2") for v in views(drbd.nodes[n])] == [1000, 1000]
    assert "resync_rate" not in drbd.cfg.instance("inst1").disks[0].params  # the cluster's, not copied


def test_without_a_rate_the_view_has_ganetis_default(drbd: Harness) -> None:
    from gnt.drbd import DEFAULT_RESYNC_RATE
    from gnt.instance.drbd import node_spec
    from gnt.runtime import DiskSpec

    node1, node2 = drbd.cfg.node("node1"), drbd.cfg.node("node2")
    spec = DiskSpec(
        uuid="d", index=0, size=64, dev_type="drbd", logical_id=[node1.uuid, node2.uuid, "11000", "0", "0"],
        params={"children": [["xenvg", "d_data"], ["xenvg", "d_meta"]], "secret": "a" * 40},
    )  # fmt: skip
    assert node_spec(spec, node1, node2, True).params["drbd"]["resync_rate"] == DEFAULT_RESYNC_RATE


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"plain": {"stripes": 2}}, "no disk parameters for disk template 'plain'"),
        ({"drbd": {"c-plan-ahead": 0}}, "unknown drbd disk parameter 'c-plan-ahead' \\(known: resync-rate\\)"),
        ({"drbd": {"resync-rate": 0}}, "resync-rate must be an integer from 1 to"),
        ({"drbd": {"resync-rate": "fast"}}, "resync-rate must be an integer"),
    ],
)
def test_disk_parameters_gnt_does_not_know_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(OpPrereqError, match=message):
        from_dict({"OP_ID": "OP_CLUSTER_SET_PARAMS", "diskparams": params})
