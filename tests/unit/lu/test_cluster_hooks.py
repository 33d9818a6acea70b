"""Cluster opcodes' hooks (Ganeti's cluster-init, cluster-modify, cluster-verify, cluster-rename,
cluster-destroy) and the master's config-update hook, on the in-process transport."""

from __future__ import annotations

import os
from typing import Any

import pytest

from gnt import paths
from gnt.cluster.logic import LUClusterDestroy, LUClusterPostInit, LUClusterSetParams, LUClusterVerify
from gnt.cluster.master_ip_ops import OpClusterRename
from gnt.cluster.rename import LUClusterRename
from gnt.debug.logic import LUTestDelay
from gnt.errors import HooksAbort
from gnt.hooks.master import HKR_FAIL, HKR_SUCCESS
from gnt.opcodes import OpClusterDestroy, OpClusterPostInit, OpClusterSetParams, OpClusterVerify, OpTestDelay
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_cluster_verify_n1 import _healthy_facts
from tests.unit.lu.test_hooks import answer, hook_calls, hooked, master_script


def phases(harness: Harness, node: str, config_update: bool = False) -> list[tuple[str, str]]:
    return [(a.hpath, a.phase) for a in hook_calls(harness, node, config_update)]


def test_cluster_modify_runs_pre_and_post_on_the_master_with_ganetis_variables(harness: Harness) -> None:
    hooked(harness, OpClusterSetParams(candidate_pool_size=7, vg_name="xenvg"), LUClusterSetParams)
    assert phases(harness, "node1") == [("cluster-modify", "pre"), ("cluster-modify", "post")]
    assert hook_calls(harness, "node2") == []
    pre, _post = hook_calls(harness, "node1")
    name = harness.cfg.cluster.cluster_name
    assert {k: pre.env[k] for k in ("GANETI_OP_CODE", "GANETI_OBJECT_TYPE", "GANETI_OP_TARGET", "GANETI_NEW_VG_NAME",
                                    "GANETI_CLUSTER", "GANETI_HOOKS_PATH")} == {
        "GANETI_OP_CODE": "OP_CLUSTER_SET_PARAMS", "GANETI_OBJECT_TYPE": "CLUSTER", "GANETI_OP_TARGET": name,
        "GANETI_NEW_VG_NAME": "xenvg", "GANETI_CLUSTER": name, "GANETI_HOOKS_PATH": "cluster-modify",
    }  # fmt: skip


def test_a_failing_cluster_modify_pre_hook_changes_nothing(harness: Harness) -> None:
    before, serial = harness.cfg.cluster.max_running_jobs, harness.cfg.serial
    answer(harness, "node1", {"pre": [["cluster-modify-pre.d/10-freeze", HKR_FAIL, "change freeze"]]})
    with pytest.raises(HooksAbort, match="node: node1, script: cluster-modify-pre.d/10-freeze, output: change freeze"):
        hooked(harness, OpClusterSetParams(max_running_jobs=before + 3), LUClusterSetParams)
    assert (harness.cfg.cluster.max_running_jobs, harness.cfg.serial) == (before, serial)
    assert phases(harness, "node1", config_update=True) == [("cluster-modify", "pre")]


def test_cluster_rename_hooks_get_the_new_name(harness: Harness) -> None:
    old = harness.cfg.cluster.cluster_name
    hooked(harness, OpClusterRename(name="renamed.example.com"), LUClusterRename)
    pre, post = hook_calls(harness, "node1")
    assert (pre.hpath, pre.env["GANETI_OP_TARGET"], pre.env["GANETI_NEW_NAME"]) == (
        "cluster-rename",
        old,
        "renamed.example.com",
    )
    assert post.env["GANETI_POST_OP_TARGET"] == "renamed.example.com"


def test_cluster_init_has_only_a_post_phase_on_the_master(harness: Harness) -> None:
    hooked(harness, OpClusterPostInit(), LUClusterPostInit)
    assert phases(harness, "node1") == [("cluster-init", "post")]
    assert hook_calls(harness, "node2") == []


def test_cluster_destroy_runs_its_post_hooks_on_the_master_before_it_goes(harness: Harness) -> None:
    order: list[str] = []
    harness.ctx.services.request_shutdown = lambda destroy=False: order.append("shutdown")  # type: ignore[attr-defined]
    del harness.cfg.nodes[harness.cfg.node("node2").uuid]
    hooked(harness, OpClusterDestroy(), LUClusterDestroy)
    assert phases(harness, "node1") == [("cluster-destroy", "post")]
    assert harness.nodes["node1"].names()[0] == "hooks_runner" and order == ["shutdown"]


def _verify(harness: Harness, **kw: Any) -> bool:
    _healthy_facts(harness)
    harness.log.clear()
    return hooked(harness, OpClusterVerify(**kw), LUClusterVerify)  # type: ignore[no-any-return]


def test_cluster_verify_runs_post_hooks_only_on_every_node_with_the_tags(harness: Harness) -> None:
    harness.cfg.cluster.tags = ["prod"]
    harness.cfg.node("node2").tags = ["rack1", "ssd"]
    assert _verify(harness) is True
    for node in ("node1", "node2"):
        assert phases(harness, node) == [("cluster-verify", "post")]
    (post,) = hook_calls(harness, "node2")
    assert (post.env["GANETI_CLUSTER_TAGS"], post.env["GANETI_NODE_TAGS_node2"]) == ("prod", "rack1 ssd")
    assert "* Hooks Results" in harness.log


def test_a_failing_cluster_verify_post_hook_is_a_verify_error(harness: Harness) -> None:
    scripts = [
        ["cluster-verify-post.d/ok", HKR_SUCCESS, ""],
        ["cluster-verify-post.d/50-raid", HKR_FAIL, "md0 degraded\nsdb failed"],
    ]
    answer(harness, "node2", {"post": scripts})
    assert _verify(harness) is False
    at = harness.log.index("  - ERROR: node node2: Script cluster-verify-post.d/50-raid failed, output:")
    assert harness.log[at + 1 : at + 3] == ["      md0 degraded", "      sdb failed"]
    harness.nodes["node2"].calls.clear()
    assert _verify(harness, error_codes=True) is False
    assert "  - ERROR:ENODEHOOKS:node:node2:Script cluster-verify-post.d/50-raid failed, output:" in harness.log
    assert _verify(harness, ignore_errors=["ENODEHOOKS"]) is True


def test_config_update_runs_on_the_master_only_after_a_config_change(harness: Harness) -> None:
    master_script("config-update", "post")
    hooked(harness, OpTestDelay(duration=0), LUTestDelay)
    assert hook_calls(harness, "node1", config_update=True) == []
    hooked(harness, OpClusterSetParams(candidate_pool_size=9), LUClusterSetParams)
    calls = hook_calls(harness, "node1", config_update=True)
    assert [(a.hpath, a.phase) for a in calls][-1] == ("config-update", "post")
    # Ganeti's: the opcode's pre environment, in the post phase of its own hook path
    assert calls[-1].env["GANETI_OP_CODE"] == "OP_CLUSTER_SET_PARAMS"
    assert calls[-1].env["GANETI_HOOKS_PATH"] == "config-update"
    assert calls[-1].env["GANETI_OP_TARGET"] == harness.cfg.cluster.cluster_name


def test_config_update_without_scripts_on_the_master_makes_no_call(harness: Harness) -> None:
    hooked(harness, OpClusterSetParams(candidate_pool_size=9), LUClusterSetParams)
    assert harness.cfg.cluster.candidate_pool_size == 9
    assert [a.hpath for a in hook_calls(harness, "node1", config_update=True)] == ["cluster-modify"] * 2
    os.makedirs(os.path.join(paths.hooks_dir(), "config-update-post.d"))  # an empty directory: still none
    hooked(harness, OpClusterSetParams(candidate_pool_size=8), LUClusterSetParams)
    assert "config-update" not in [a.hpath for a in hook_calls(harness, "node1", config_update=True)]


def test_config_update_gets_the_pre_environment_only(harness: Harness) -> None:
    master_script("config-update", "post")
    hooked(harness, OpClusterSetParams(candidate_pool_size=4), LUClusterSetParams)
    (update,) = [a for a in hook_calls(harness, "node1", config_update=True) if a.hpath == "config-update"]
    assert not any(key.startswith("GANETI_POST_") for key in update.env)
    assert update.env["GANETI_NEW_VG_NAME"] == "" and update.env["GANETI_HOOKS_PHASE"] == "post"
