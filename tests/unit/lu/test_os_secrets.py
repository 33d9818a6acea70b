"""Private and secret OS parameters in the LUs: what the nodes' OS scripts get, what the config keeps."""

from __future__ import annotations

import json

import pytest

from gnt import opcodes, serial
from gnt.cluster.logic import LUClusterSetParams
from gnt.debug.logic import LUTestOsParams
from gnt.debug.opcodes import OpTestOsParams
from gnt.errors import OpPrereqError
from gnt.instance.admin_opcodes import OpInstanceReinstall
from gnt.instance.create import LUInstanceCreate
from gnt.instance.lifecycle import LUInstanceSetParams
from gnt.instance.reinstall import LUInstanceReinstall
from gnt.opcodes import OpClusterSetParams, OpInstanceCreate, OpInstanceSetParams
from gnt.os import query as os_query
from gnt.os.secrets import REDACTED
from gnt.rpc.transport import RpcResult
from tests.unit.lu.conftest import Harness

SECRET = "s3cr3t-never-stored"
PRIVATE = "pr1vate-kept-hidden"


def calls(harness: Harness, name: str, node: str = "node1") -> list:
    return [args for proc, args in harness.nodes[node].calls if proc == name]


def config_text(harness: Harness) -> str:
    """Everything the config holds, as text (what would be written and replicated)."""
    cfg = harness.cfg
    objects = [cfg.cluster, *cfg.nodes.values(), *cfg.instances.values()]
    return json.dumps([serial.to_dict(o) for o in objects])


def create(**kw: object) -> OpInstanceCreate:
    fields: dict[str, object] = {
        "instance_name": "inst1",
        "disk_template": "file",
        "disks": [{"size": 64}],
        "os_type": "deb",
        "pnode": "node1",
        "beparams": {"memory": 128},
        "osparams": {"dhcp": "yes"},
        "osparams_private": {"key": PRIVATE},
        "osparams_secret": {"password": SECRET},
    }
    fields.update(kw)
    return OpInstanceCreate(**fields)  # type: ignore[arg-type]


def test_create_gives_the_os_scripts_all_three_and_keeps_only_public_and_private(harness: Harness) -> None:
    harness.cfg.cluster.osparams_private_cluster = {"deb": {"site_token": "cluster-private"}}
    harness.run(create(), LUInstanceCreate)
    everything = {"dhcp": "yes", "key": PRIVATE, "password": SECRET, "site_token": "cluster-private"}
    (check,) = calls(harness, "os_validate")
    assert check.osparams == everything
    (add,) = calls(harness, "instance_os_add")
    assert add.instance.osparams == everything
    # a started instance's spec (which a node may keep on disk) has the public parameters only
    (start,) = calls(harness, "instance_start")
    assert start.instance.osparams == {"dhcp": "yes"}
    inst = harness.cfg.instance("inst1")
    assert (inst.osparams, inst.osparams_private) == ({"dhcp": "yes"}, {"key": PRIVATE})
    text = config_text(harness)
    assert SECRET not in text and PRIVATE in text


def test_a_parameter_in_two_categories_is_refused_at_submission() -> None:
    body = {
        "OP_ID": "OP_INSTANCE_CREATE",
        "instance_name": "inst1",
        "disk_template": "diskless",
        "osparams": {"key": "a"},
        "osparams_secret": {"key": SECRET},
    }
    with pytest.raises(OpPrereqError, match="OS parameter 'key' is given as both public and secret") as err:
        opcodes.from_dict(body)
    assert SECRET not in err.value.message


def test_reinstall_uses_stored_private_and_this_jobs_secret_and_keeps_no_secret(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file", up=False, os="deb", osparams_private={"old": "kept"})
    op = OpInstanceReinstall(
        instance_name="inst1", osparams_private={"key": PRIVATE}, osparams_secret={"password": SECRET}
    )
    harness.run(op, LUInstanceReinstall)
    (add,) = calls(harness, "instance_os_add")
    assert add.instance.osparams == {"old": "kept", "key": PRIVATE, "password": SECRET}
    inst = harness.cfg.instance("inst1")
    assert inst.osparams_private == {"old": "kept", "key": PRIVATE}
    assert SECRET not in config_text(harness)


def test_a_reinstall_without_the_secret_again_gets_only_what_is_stored(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file", up=False, os="deb", osparams_private={"key": PRIVATE})
    harness.run(OpInstanceReinstall(instance_name="inst1", osparams_secret={"password": SECRET}), LUInstanceReinstall)
    harness.run(OpInstanceReinstall(instance_name="inst1"), LUInstanceReinstall)
    first, second = calls(harness, "instance_os_add")
    assert first.instance.osparams == {"key": PRIVATE, "password": SECRET}
    assert second.instance.osparams == {"key": PRIVATE}


def test_modify_stores_private_parameters_and_reports_them_redacted(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", os="deb", osparams={"key": "was-public"})
    result = harness.run(
        OpInstanceSetParams(instance_name="inst1", osparams_private={"key": PRIVATE}), LUInstanceSetParams
    )
    assert result == [["os_private/key", REDACTED]]
    inst = harness.cfg.instance("inst1")
    assert (inst.osparams, inst.osparams_private) == ({}, {"key": PRIVATE})  # moved category, not in both
    (check,) = calls(harness, "os_validate")
    assert check.osparams == {"key": PRIVATE}


def test_cluster_private_os_parameters_are_stored_and_queried_redacted(harness: Harness) -> None:
    op = OpClusterSetParams(osparams_private_cluster={"deb": {"site_token": PRIVATE}})
    harness.run(op, LUClusterSetParams)
    cluster = harness.cfg.cluster
    assert cluster.osparams_private_cluster == {"deb": {"site_token": PRIVATE}}
    (check,) = calls(harness, "os_validate")
    assert (check.name, check.osparams, check.required) == ("deb", {"site_token": PRIVATE}, False)
    answer = RpcResult("node1", payload=[{"name": "deb", "path": "/srv/gnt/os/deb", "valid": True}])
    (info,) = os_query.merge({"node1": answer}, cluster)
    assert info["osparams"] == {"site_token": REDACTED}
    # 'default' removes it again
    harness.run(OpClusterSetParams(osparams_private_cluster={"deb": {"site_token": "default"}}), LUClusterSetParams)
    assert cluster.osparams_private_cluster == {}


def test_test_osparams_reports_names_and_lengths_never_values(harness: Harness) -> None:
    result = harness.run(OpTestOsParams(osparams_secret={"b": SECRET, "a": "x"}), LUTestOsParams)
    assert result == ["a", "b"]
    assert harness.log == [f"Secret OS parameters: a (1 characters), b ({len(SECRET)} characters)"]


def test_test_osparams_refuses_values_that_arrived_redacted(harness: Harness) -> None:
    from gnt.errors import OpExecError

    with pytest.raises(OpExecError, match="^Secret OS parameters arrived redacted: pw$"):
        harness.run(OpTestOsParams(osparams_secret={"pw": REDACTED}), LUTestOsParams)


def test_os_parameters_private_cli_builds_the_cluster_opcode(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from gnt.os import cli as os_cli

    sent: list = []
    monkeypatch.setattr(os_cli, "client", lambda: None)
    monkeypatch.setattr(os_cli, "run_ops", lambda cl, ops, submit: sent.extend(ops))
    result = CliRunner().invoke(os_cli.main, ["modify", "--os-parameters-private", "token=abc", "deb"])
    assert result.exit_code == 0, result.output
    assert sent[0]["osparams_private_cluster"] == {"deb": {"token": "abc"}}


def test_the_rename_script_gets_the_private_parameters(harness: Harness) -> None:
    from gnt.instance.admin_opcodes import OpInstanceRename
    from gnt.instance.rename import LUInstanceRename

    harness.add_instance("inst1", "node1", up=False, os="deb", osparams_private={"key": PRIVATE})
    harness.run(OpInstanceRename(instance_name="inst1", new_name="inst2", name_check=False), LUInstanceRename)
    (rename,) = calls(harness, "instance_run_rename")
    assert rename.instance.osparams == {"key": PRIVATE}


def test_the_export_script_gets_the_private_parameters(harness: Harness) -> None:
    from gnt.backup import exportcfg
    from gnt.backup.export import LUBackupExport
    from gnt.backup.opcodes import OpBackupExport
    from tests.unit.lu.test_backup import _transfers

    _transfers(harness.nodes["node2"], harness.nodes["node1"])
    harness.add_instance("inst1", "node1", template="file", up=False, os="deb", osparams={"dhcp": "yes"},
                         osparams_private={"key": PRIVATE})  # fmt: skip
    harness.run(OpBackupExport(instance_name="inst1", target_node="node2"), LUBackupExport)
    (send,) = calls(harness, "disk_send")
    assert send.os_instance.os == "deb" and send.os_instance.osparams == {"dhcp": "yes", "key": PRIVATE}
    assert send.disk.uuid == harness.cfg.instance("inst1").disks[0].uuid
    (receive,) = calls(harness, "disk_receive", "node2")
    assert receive.os_instance is None  # the export file holds what the script wrote
    (final,) = calls(harness, "export_finalize", "node2")
    info = exportcfg.read_export(final.config)  # as Ganeti's: private ones travel with the export
    assert (info.osparams, info.osparams_private) == ({"dhcp": "yes"}, {"key": PRIVATE})


def test_the_import_script_gets_the_private_and_secret_parameters_and_keeps_no_secret(harness: Harness) -> None:
    from tests.unit.lu.test_backup import _exported, _import, _transfers

    pnode, holder = harness.nodes["node1"], harness.nodes["node2"]
    _transfers(pnode, holder)
    holder.do_export_list = lambda args: ["imp"]  # type: ignore[attr-defined]
    holder.do_export_info = lambda args: _exported(harness, "imp")  # type: ignore[attr-defined]
    op = _import(osparams_private={"key": PRIVATE}, osparams_secret={"password": SECRET})
    harness.run(op, LUInstanceCreate)
    receives = calls(harness, "disk_receive")
    assert [r.os_instance.osparams for r in receives] == [{"key": PRIVATE, "password": SECRET}] * 2
    assert [r.os_instance.os for r in receives] == ["noop", "noop"]
    assert [s.os_instance for s in calls(harness, "disk_send", "node2")] == [None, None]
    assert SECRET not in config_text(harness) and PRIVATE in config_text(harness)


def test_an_import_takes_the_exported_private_parameters_unless_given(harness: Harness) -> None:
    from gnt.backup import exportcfg
    from gnt.objects import Disk, Instance, new_uuid
    from tests.unit.lu.test_backup import _import, _transfers

    pnode, holder = harness.nodes["node1"], harness.nodes["node2"]
    _transfers(pnode, holder)
    exported = Instance(name="imp", os="noop", hypervisor="fake", disk_template="file", osparams_private={"a": "1"})
    exported.osparams_private["b"] = "2"
    exported.disks = [Disk(uuid=new_uuid(), size=32, dev_type="file")]
    holder.do_export_list = lambda args: ["imp"]  # type: ignore[attr-defined]
    holder.do_export_info = lambda args: exportcfg.export_config(exported, "node2", "none", now=0)  # type: ignore[attr-defined]
    harness.run(_import(osparams_private={"b": "given"}, osparams_secret={"a": SECRET}), LUInstanceCreate)
    assert harness.cfg.instance("imp").osparams_private == {"b": "given"}  # a: given as secret this time
    (receive,) = calls(harness, "disk_receive")
    assert receive.os_instance.osparams == {"a": SECRET, "b": "given"}
