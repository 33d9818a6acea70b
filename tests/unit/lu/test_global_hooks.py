"""Ganeti's global hooks (global-{pre,post}.d): around every opcode, never deciding its outcome."""

from __future__ import annotations

import asyncio
import inspect
import os
from typing import Any

import pytest

from gnt import paths
from gnt.debug.logic import LUTestDelay
from gnt.errors import HooksAbort, OpExecError
from gnt.hooks.master import HKR_FAIL, exec_with_hooks
from gnt.instance.lifecycle import LUInstanceStartup
from gnt.jobs.lu import LogicalUnit
from gnt.opcodes import OpCode, OpInstanceStartup, OpTestDelay
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_hooks import hook_calls


def run(harness: Harness, op: OpCode, lu_class: type[LogicalUnit], job_id: int = 42) -> Any:
    lu = lu_class(op, harness.ctx, lambda message, kind: harness.log.append(message))
    lu.job_id = job_id  # type: ignore[attr-defined]  # as the processor sets it

    async def phases() -> Any:
        lu.check_arguments()
        prereq = lu.check_prereq()
        if inspect.isawaitable(prereq):
            await prereq
        return await exec_with_hooks(lu)

    return asyncio.run(phases())


def master_global_scripts() -> None:
    """Scripts in the master's own global directories (the master daemon looks there before a
    master-only call); the fake nodes answer the calls themselves."""
    for phase in ("pre", "post"):
        directory = os.path.join(paths.hooks_dir(), f"global-{phase}.d")
        os.makedirs(directory)
        with open(os.path.join(directory, "10-log"), "w") as script:
            script.write("#!/bin/sh\n")


def global_calls(harness: Harness, node: str) -> list[Any]:
    return [a for a in hook_calls(harness, node, config_update=True) if a.hpath == "global"]


def test_global_hooks_wrap_an_opcodes_own_hooks_on_its_nodes(harness: Harness) -> None:
    harness.add_instance("inst1", "node2", up=False)
    run(harness, OpInstanceStartup(instance_name="inst1", force=True), LUInstanceStartup)
    for node, role in (("node1", "master"), ("node2", "not_master")):
        calls = hook_calls(harness, node, config_update=True)
        assert (calls[0].hpath, calls[0].phase, calls[-1].hpath, calls[-1].phase) == ("global", "pre", "global", "post")
        pre, post = global_calls(harness, node)
        assert (pre.env["GANETI_JOB_ID"], pre.env["GANETI_IS_MASTER"], pre.env["GANETI_HOOKS_PATH"]) == (
            "42",
            role,
            "global",
        )
        # the opcode's own variables too
        assert pre.env["GANETI_INSTANCE_NAME"] == "inst1" and pre.env["GANETI_OBJECT_TYPE"] == "INSTANCE"
        assert post.env["GANETI_POST_STATUS"] == "success" and "GANETI_POST_STATUS" not in pre.env
    assert hook_calls(harness, "node3", config_update=True) == []


def test_a_failing_global_pre_hook_does_not_stop_the_opcode(harness: Harness) -> None:
    harness.add_instance("inst1", "node2", up=False)
    harness.nodes["node1"].do_hooks_runner = lambda args: (  # type: ignore[attr-defined]
        [["global-pre.d/10-deny", HKR_FAIL, "no"]] if args.hpath == "global" else []
    )
    run(harness, OpInstanceStartup(instance_name="inst1", force=True), LUInstanceStartup)
    assert harness.cfg.instance("inst1").admin_state == "up"


def test_a_failed_opcode_runs_the_global_post_hooks_on_the_master_with_status_error(harness: Harness) -> None:
    harness.add_instance("inst1", "node2", up=False)
    master_global_scripts()
    harness.nodes["node2"].fail["instance_start"] = OpExecError("no memory")
    with pytest.raises(OpExecError):
        run(harness, OpInstanceStartup(instance_name="inst1", force=True), LUInstanceStartup)
    (_pre, post) = global_calls(harness, "node1")
    assert post.env["GANETI_POST_STATUS"] == "error"
    assert [a.phase for a in global_calls(harness, "node2")] == ["pre"]


def test_a_pre_hook_abort_is_an_error_status_too(harness: Harness) -> None:
    harness.add_instance("inst1", "node2", up=False)
    harness.nodes["node2"].do_hooks_runner = lambda args: (  # type: ignore[attr-defined]
        [["instance-start-pre.d/10-deny", HKR_FAIL, "no"]] if args.hpath == "instance-start" else []
    )
    master_global_scripts()
    with pytest.raises(HooksAbort):
        run(harness, OpInstanceStartup(instance_name="inst1", force=True), LUInstanceStartup)
    assert [a.env.get("GANETI_POST_STATUS") for a in global_calls(harness, "node1")] == [None, "error"]


def test_an_opcode_without_hooks_runs_them_on_the_master_only_when_it_has_some(harness: Harness) -> None:
    run(harness, OpTestDelay(duration=0), LUTestDelay)
    assert harness.nodes["node1"].calls == []  # no global scripts on the master: no call at all
    master_global_scripts()
    run(harness, OpTestDelay(duration=0), LUTestDelay, job_id=7)
    pre, post = global_calls(harness, "node1")
    assert (pre.env["GANETI_OBJECT_TYPE"], pre.env["GANETI_OP_CODE"], pre.env["GANETI_JOB_ID"]) == (
        "NOT_APPLICABLE",
        "OP_TEST_DELAY",
        "7",
    )
    assert post.env["GANETI_POST_STATUS"] == "success"
    assert global_calls(harness, "node2") == []
