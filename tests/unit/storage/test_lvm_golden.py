"""Golden tests of the plain driver's actions: operation + facts (raw `vgs`/`lvs` output) -> exact argv.

Each tests/golden/lvm/*.json holds the inputs (`op`, the LV, sizes, and the facts as the tools
print them) and the expected commands, or the expected error. To accept a deliberate change, run
with GNT_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from gnt.errors import StorageError
from storage.lvm import commands as cmd
from storage.lvm.report import parse_lvs, parse_pvs, parse_vgs
from tests.golden_cases import case_paths, check_case

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "golden", "lvm")
VG = "xenvg"

_REPORTS = {"vgs": cmd.vgs_argv, "lvs": cmd.lvs_argv, "volumes": cmd.volumes_argv}


def _plan(case: dict[str, Any]) -> list[list[str]]:
    op = case["op"]
    if op == "argv":
        if case["command"] == "pvs":
            return [cmd.pvs_argv()]
        if case["command"] == "vgreduce":
            return [cmd.vgreduce_missing_argv(case["vgs"][0])]
        return [_REPORTS[case["command"]](case["vgs"])]
    if op == "allocatable":
        return cmd.plan_allocatable(parse_pvs(case["facts"]["pvs"]), [VG], case["pv"], case["allocatable"])
    vgs, lvs = parse_vgs(case["facts"]["vgs"]), parse_lvs(case["facts"]["lvs"])
    (vg,) = vgs
    lv = case["lv"]
    if op == "create":
        return cmd.plan_create(vg, lvs, lv, case["size"])
    if op == "remove":
        return cmd.plan_remove(lvs, VG, lv)
    if op == "grow":
        return cmd.plan_grow(vg, lvs, lv, case["target"])
    if op == "activate":
        return cmd.plan_activate(lvs, VG, lv, case["active"])
    if op == "rename":
        return cmd.plan_rename(lvs, VG, lv, case["new"])
    if op == "snapshot":
        return cmd.plan_snapshot(vg, lvs, lv, case["size"])
    if op == "adopt":  # no command of its own: the LV's size if it may be adopted, then a rename
        found = cmd.check_adoptable(lvs, VG, lv)
        return [["# adopt", f"{found.size}m"], *cmd.plan_rename(lvs, VG, lv, case["new"])]
    raise AssertionError(f"unknown op {op!r}")


def _output(case: dict[str, Any]) -> Any:
    try:
        return _plan(case)
    except StorageError as err:
        return {"error": str(err)}


@pytest.mark.parametrize("path", case_paths(GOLDEN), ids=os.path.basename)
def test_golden_case(path: str) -> None:
    check_case(path, _output)


def test_every_command_line_has_a_golden_case() -> None:
    """Each argv builder appears in at least one case's expected output."""
    seen = set()
    for path in case_paths(GOLDEN):
        with open(path) as f:
            expected = json.load(f)["expected"]
        if isinstance(expected, list):
            seen.update(" ".join(argv[:2]) for argv in expected)
    for needed in ("vgs --noheadings", "lvs --noheadings", "pvs --noheadings", "lvcreate -y", "lvremove -f",
                   "lvextend -L", "lvchange -ay", "lvchange -an", "lvrename xenvg", "pvchange -x",
                   "vgreduce --removemissing"):  # fmt: skip
        assert needed in seen, needed
    assert any(argv[:3] == ["lvcreate", "-y", "-s"] for argv in _all_expected())


def _all_expected() -> list[list[str]]:
    found = []
    for path in case_paths(GOLDEN):
        with open(path) as f:
            expected = json.load(f)["expected"]
        if isinstance(expected, list):
            found.extend(expected)
    return found
