"""The cluster's default iallocator parameters (`--default-iallocator-params`): stored by cluster
modify (replacing the old ones, as Ganeti), checked as option names, and given to external
allocators as `--KEY=VALUE` options after the request file, as Ganeti's node daemon runs one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gnt import ialloc_params, opcodes
from gnt.cluster.logic import LUClusterSetParams
from gnt.errors import OpPrereqError
from gnt.instance import placement
from gnt.instance.create import LUInstanceCreate
from gnt.opcodes import OpClusterSetParams, OpInstanceCreate
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_multi_alloc import _full_node_info


def test_arguments_are_ganetis() -> None:
    params = {"ignore-soft-errors": None, "max-cpu": "2.5", "verbose": True}
    assert ialloc_params.as_arguments(params) == ["--ignore-soft-errors", "--max-cpu=2.5", "--verbose=True"]
    assert ialloc_params.describe(params) == "-ignore-soft-errors, max-cpu=2.5, verbose=True"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"-x": "1"}, "invalid allocator parameter name '-x'"),
        ({"a b": "1"}, "invalid allocator parameter name"),
        ({"x": "1\n2"}, "allocator parameter x: '1\\\\n2' is not a valid value"),
        ({"x": 3}, "allocator parameter x: 3 is not a valid value"),
        ("x=1", "expected dict"),
    ],
)
def test_bad_parameters_are_refused_before_any_job(value: object, message: str) -> None:
    with pytest.raises(OpPrereqError, match=message):
        opcodes.from_dict({"OP_ID": "OP_CLUSTER_SET_PARAMS", "default_iallocator_params": value})


def _recorder(harness: Harness, tmp_path: Path) -> Path:
    """An installed allocator that writes its arguments to a file and places on node2."""
    directory = Path(os.environ["GNT_ROOTDIR"]) / placement.IALLOCATOR_SEARCH_PATH[0].lstrip("/")
    directory.mkdir(parents=True, exist_ok=True)
    seen = tmp_path / "argv"
    script = directory / "recorder"
    script.write_text(
        f'#!/bin/sh\nshift\necho "$@" >{seen}\necho \'{{"success": true, "info": "", "result": ["node2"]}}\'\n'
    )
    script.chmod(0o755)
    return seen


def _create(harness: Harness, name: str, allocator: str) -> str:
    op = OpInstanceCreate(
        instance_name=name, disk_template="diskless", os_type="noop", start=False, iallocator=allocator
    )
    harness.run(op, LUInstanceCreate)
    return harness.cfg.node(harness.cfg.instance(name).primary_node).name


def test_an_external_allocator_gets_the_parameters(harness: Harness, tmp_path: Path) -> None:
    _full_node_info(harness)
    seen = _recorder(harness, tmp_path)
    params = {"max-cpu": "2", "ignore-soft-errors": None}
    harness.run(OpClusterSetParams(default_iallocator_params=params), LUClusterSetParams)
    assert harness.cfg.cluster.default_iallocator_params == params
    assert _create(harness, "a", "recorder") == "node2"
    assert seen.read_text().split() == ["--max-cpu=2", "--ignore-soft-errors"]
    harness.run(OpClusterSetParams(default_iallocator_params={}), LUClusterSetParams)  # replaced, not merged
    assert _create(harness, "b", "recorder") == "node2"
    assert seen.read_text().strip() == ""


def test_the_builtin_allocator_says_it_ignores_them(harness: Harness) -> None:
    _full_node_info(harness)
    harness.run(OpClusterSetParams(default_iallocator_params={"max-cpu": "2"}), LUClusterSetParams)
    _create(harness, "c", "hail")
    assert any("takes no parameters; ignoring --max-cpu=2" in line for line in harness.log), harness.log


def test_gnt_hail_takes_the_options_as_an_external_allocator(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from gnt.alloc.iallocator import main

    request = tmp_path / "req.json"
    request.write_text("{}")
    assert main([str(request), "--max-cpu=2", "--verbose"]) == 0  # read and answered (an empty request fails)
    assert "message lacks 'request'" in capsys.readouterr().out
    assert main([str(request), "stray"]) == 2 and "usage: gnt-hail" in capsys.readouterr().err
