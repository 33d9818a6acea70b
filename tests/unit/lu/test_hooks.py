"""Hooks around logical units on the in-process transport: where they run, what they get, and how
a failing pre hook stops the opcode while a failing post hook only warns."""

from __future__ import annotations

import asyncio
import inspect
import os
from typing import Any

import pytest

from gnt import paths
from gnt.errors import HooksAbort, RpcError
from gnt.hooks.master import HKR_FAIL, HKR_SUCCESS, exec_with_hooks
from gnt.instance.create import LUInstanceCreate
from gnt.instance.lifecycle import LUInstanceStartup
from gnt.instance.rename import LUInstanceRename
from gnt.jobs.lu import LogicalUnit
from gnt.node.logic import LUNodeRemove
from gnt.opcodes import OpCode, OpInstanceCreate, OpInstanceStartup, OpNodeRemove, OpTestDelay
from tests.unit.lu.conftest import Harness


def hooked(harness: Harness, op: OpCode, lu_class: type[LogicalUnit]) -> Any:
    """The processor's phases with hooks: check_arguments, check_prereq, pre hooks, exec, post hooks."""
    lu = lu_class(op, harness.ctx, lambda message, kind: harness.log.append(message))

    async def phases() -> Any:
        lu.check_arguments()
        prereq = lu.check_prereq()
        if inspect.isawaitable(prereq):
            await prereq
        return await exec_with_hooks(lu)

    return asyncio.run(phases())


def answer(harness: Harness, node: str, results: dict[str, list[list[Any]]]) -> None:
    """`node` answers hooks_runner with results[phase] (default: one passing script)."""
    harness.nodes[node].do_hooks_runner = lambda args: results.get(  # type: ignore[attr-defined]
        args.phase, [[f"{args.hpath}-{args.phase}.d/ok", HKR_SUCCESS, ""]]
    )


def hook_calls(harness: Harness, node: str, config_update: bool = False) -> list[Any]:
    """The node's hooks_runner calls of the opcode's own hooks (with the config-update and global
    ones only if asked for)."""
    return [
        a
        for name, a in harness.nodes[node].calls
        if name == "hooks_runner" and (config_update or a.hpath not in ("config-update", "global"))
    ]


def master_script(hpath: str, phase: str) -> None:
    """A script in the master's own `<hpath>-<phase>.d` (the master daemon looks there before a
    master-only call); the fake nodes answer the calls themselves."""
    directory = os.path.join(paths.hooks_dir(), f"{hpath}-{phase}.d")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "10-log"), "w") as script:
        script.write("#!/bin/sh\n")


def test_instance_start_runs_pre_and_post_hooks_on_the_master_and_its_nodes(harness: Harness) -> None:
    harness.add_instance("inst1", "node2", up=False, os="noop", tags=["web"])
    master_script("config-update", "post")
    hooked(harness, OpInstanceStartup(instance_name="inst1", force=True), LUInstanceStartup)
    # node1 is the master, node2 the primary; the start committed the config: config-update on the master
    expected = [("instance-start", "pre"), ("instance-start", "post")]
    assert [(a.hpath, a.phase) for a in hook_calls(harness, "node2")] == expected
    assert [(a.hpath, a.phase) for a in hook_calls(harness, "node1", config_update=True)] == [
        ("global", "pre"),
        *expected,
        ("config-update", "post"),
        ("global", "post"),
    ]
    assert [(a.hpath, a.phase) for a in hook_calls(harness, "node2", config_update=True)] == [
        ("global", "pre"),
        *expected,
        ("global", "post"),
    ]
    pre, post = hook_calls(harness, "node2")
    assert {k: pre.env[k] for k in (
        "GANETI_HOOKS_VERSION", "GANETI_HOOKS_PATH", "GANETI_HOOKS_PHASE", "GANETI_OP_CODE", "GANETI_OBJECT_TYPE",
        "GANETI_MASTER", "GANETI_INSTANCE_NAME", "GANETI_INSTANCE_PRIMARY", "GANETI_INSTANCE_OS_TYPE",
        "GANETI_INSTANCE_STATUS", "GANETI_INSTANCE_TAGS", "GANETI_FORCE", "GANETI_OP_TARGET",
    )} == {
        "GANETI_HOOKS_VERSION": "2", "GANETI_HOOKS_PATH": "instance-start", "GANETI_HOOKS_PHASE": "pre",
        "GANETI_OP_CODE": "OP_INSTANCE_STARTUP", "GANETI_OBJECT_TYPE": "INSTANCE", "GANETI_MASTER": "node1",
        "GANETI_INSTANCE_NAME": "inst1", "GANETI_INSTANCE_PRIMARY": "node2", "GANETI_INSTANCE_OS_TYPE": "noop",
        "GANETI_INSTANCE_STATUS": "down", "GANETI_INSTANCE_TAGS": "web", "GANETI_FORCE": "True",
        "GANETI_OP_TARGET": "inst1",
    }  # fmt: skip
    assert pre.env["GANETI_CLUSTER"] == harness.cfg.cluster.cluster_name
    assert "GANETI_INSTANCE_BE_maxmem" in pre.env and "GANETI_INSTANCE_HV_migration_mode" in pre.env
    # post: the pre environment, plus the state after the opcode as GANETI_POST_*
    assert post.env["GANETI_HOOKS_PHASE"] == "post" and post.env["GANETI_INSTANCE_STATUS"] == "down"
    assert post.env["GANETI_POST_INSTANCE_STATUS"] == "up"
    assert harness.nodes["node3"].calls == []


def test_a_failing_pre_hook_aborts_before_any_change(harness: Harness) -> None:
    harness.add_instance("inst1", "node2", up=False)
    answer(harness, "node2", {"pre": [["instance-start-pre.d/10-deny", HKR_FAIL, "not today"],
                                      ["instance-start-pre.d/20-quiet", HKR_FAIL, ""]]})  # fmt: skip
    with pytest.raises(HooksAbort) as err:
        hooked(harness, OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    assert err.value.message == (
        "  node: node2, script: instance-start-pre.d/10-deny, output: not today\n"
        "  node: node2, script: instance-start-pre.d/20-quiet (no output)"
    )
    assert err.value.cli_lines()[0] == "Failure: hooks execution failed:"
    assert "instance_start" not in harness.nodes["node2"].names()
    assert harness.cfg.instance("inst1").admin_state == "down"
    assert [a.phase for a in hook_calls(harness, "node2")] == ["pre"]  # no post hooks after an abort


def test_a_failing_post_hook_is_a_warning_and_the_change_stands(harness: Harness) -> None:
    harness.add_instance("inst1", "node2", up=False)
    answer(harness, "node1", {"post": [["instance-start-post.d/dns", HKR_FAIL, ""]]})
    hooked(harness, OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    assert harness.cfg.instance("inst1").admin_state == "up"
    assert " - WARNING: On node1 script instance-start-post.d/dns failed, output: (no output)" in harness.log


def test_an_unreachable_node_is_a_warning_not_an_abort(harness: Harness) -> None:
    harness.add_instance("inst1", "node2", up=False)
    harness.nodes["node2"].fail["hooks_runner"] = RpcError("connection refused")
    hooked(harness, OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    assert any("Communication failure to node node2: connection refused" in line for line in harness.log)
    assert harness.cfg.instance("inst1").admin_state == "up"


def test_offline_nodes_are_skipped(harness: Harness) -> None:
    from gnt.hooks.master import HooksMaster

    harness.add_instance("inst1", "node2", up=False)
    lu = LUInstanceStartup(OpInstanceStartup(instance_name="inst1"), harness.ctx, lambda m, k: None)

    async def pre() -> None:
        await lu.check_prereq()
        harness.cfg.node("node2").offline = True  # went offline after the checks
        await HooksMaster(lu).run_phase("pre")

    asyncio.run(pre())
    assert hook_calls(harness, "node2") == [] and len(hook_calls(harness, "node1")) == 1


def test_instance_add_hooks_see_the_planned_instance_then_the_created_one(harness: Harness) -> None:
    op = OpInstanceCreate(instance_name="new1", disk_template="file", disks=[{"size": 64}], os_type="noop",
                          pnode="node2", beparams={"memory": 128}, start=False)  # fmt: skip
    hooked(harness, op, LUInstanceCreate)
    pre, post = hook_calls(harness, "node2")
    assert (pre.hpath, pre.env["GANETI_ADD_MODE"], pre.env["GANETI_INSTANCE_PRIMARY"]) == (
        "instance-add",
        "create",
        "node2",
    )
    assert pre.env["GANETI_INSTANCE_DISK0_SIZE"] == "64" and pre.env["GANETI_INSTANCE_UUID"] == ""
    assert post.env["GANETI_POST_INSTANCE_UUID"] == harness.cfg.instance("new1").uuid
    assert [a.phase for a in hook_calls(harness, "node1")] == ["pre", "post"]


def test_a_pre_hook_stops_instance_add_before_any_disk_exists(harness: Harness) -> None:
    answer(harness, "node1", {"pre": [["instance-add-pre.d/quota", HKR_FAIL, "over quota"]]})
    op = OpInstanceCreate(instance_name="new1", disk_template="file", disks=[{"size": 64}], os_type="noop",
                          pnode="node2", beparams={"memory": 128})  # fmt: skip
    with pytest.raises(HooksAbort, match="node: node1, script: instance-add-pre.d/quota, output: over quota"):
        hooked(harness, op, LUInstanceCreate)
    assert harness.cfg.find_instance("new1") is None and harness.nodes["node2"].disks == {}


def test_rename_post_hooks_see_the_new_name(harness: Harness) -> None:
    from gnt.instance.admin_opcodes import OpInstanceRename

    harness.add_instance("inst1", "node2", up=False)
    hooked(harness, OpInstanceRename(instance_name="inst1", new_name="inst2", name_check=False), LUInstanceRename)
    pre, post = hook_calls(harness, "node2")
    assert (pre.env["GANETI_INSTANCE_NAME"], pre.env["GANETI_INSTANCE_NEW_NAME"]) == ("inst1", "inst2")
    assert post.env["GANETI_POST_INSTANCE_NAME"] == "inst2"


def test_node_remove_hooks_run_on_the_other_nodes(harness: Harness) -> None:
    hooked(harness, OpNodeRemove(node_name="node2"), LUNodeRemove)
    (pre, post) = hook_calls(harness, "node1")
    assert (pre.hpath, pre.env["GANETI_NODE_NAME"], pre.env["GANETI_OBJECT_TYPE"]) == ("node-remove", "node2", "NODE")
    assert hook_calls(harness, "node2") == []


def test_an_lu_without_a_hook_path_runs_no_hooks(harness: Harness) -> None:
    from gnt.debug.logic import LUTestDelay

    hooked(harness, OpTestDelay(duration=0), LUTestDelay)
    assert all(hook_calls(harness, n) == [] for n in harness.nodes)


def test_a_dry_run_runs_the_pre_hooks_only(harness: Harness) -> None:
    harness.add_instance("inst1", "node2", up=False)
    lu = LUInstanceStartup(OpInstanceStartup(instance_name="inst1", dry_run=True), harness.ctx, lambda m, k: None)

    async def phases() -> None:
        await lu.check_prereq()
        await exec_with_hooks(lu, dry_run=True)

    asyncio.run(phases())
    assert [a.phase for a in hook_calls(harness, "node2")] == ["pre"]
    assert "instance_start" not in harness.nodes["node2"].names()
    answer(harness, "node2", {"pre": [["instance-start-pre.d/deny", HKR_FAIL, "no"]]})
    with pytest.raises(HooksAbort):
        asyncio.run(phases())


def test_each_failure_is_one_line_of_the_cli_error(harness: Harness) -> None:
    harness.add_instance("inst1", "node2", up=False)
    answer(harness, "node2", {"pre": [["instance-start-pre.d/a", HKR_FAIL, "line one\nline two"]]})
    with pytest.raises(HooksAbort) as err:
        hooked(harness, OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    assert err.value.cli_lines() == [
        "Failure: hooks execution failed:",
        "  node: node2, script: instance-start-pre.d/a, output: line one\\nline two",
    ]


def test_node_add_hooks_run_on_every_node_and_after_on_the_new_one_too(harness: Harness) -> None:
    from gnt.hooks import env as hook_env
    from gnt.node.logic import LUNodeAdd
    from gnt.opcodes import OpNodeAdd

    assert (LUNodeAdd.HPATH, LUNodeAdd.HTYPE) == ("node-add", "NODE")
    op = OpNodeAdd(node_name="node4", primary_ip="127.0.0.4", master_capable=False)
    assert hook_env.node_env(op, None) == {
        "OP_TARGET": "node4", "NODE_NAME": "node4", "NODE_PIP": "127.0.0.4", "NODE_SIP": "127.0.0.4",
        "MASTER_CAPABLE": False, "VM_CAPABLE": True,
    }  # fmt: skip
    pre, post = hook_env.node_hook_nodes(harness.cfg, "node2", removing=False)  # node2 re-added: it is in the config
    assert [n.name for n in pre] == sorted(n.name for n in harness.cfg.nodes.values() if n.name != "node2")
    assert [n.name for n in post] == [*[n.name for n in pre], "node2"]
