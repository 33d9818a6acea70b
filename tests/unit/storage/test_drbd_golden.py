"""Golden tests of the drbd driver's actions: operation + facts (raw /proc/drbd and `drbdsetup
show` text, as recorded in a test-bed host) + the node's view of the disk -> exact argv.

Each tests/golden/drbd/*.json holds the inputs and the expected commands, or the expected error.
To accept a deliberate change, run with GNT_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from gnt.drbd import DrbdView
from gnt.errors import StorageError
from storage.drbd import commands as cmd
from storage.drbd.status import parse_proc_drbd, parse_show
from tests.golden_cases import case_paths, check_case

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "golden", "drbd")

_SINGLE = {
    "create-md": lambda v, c: cmd.create_md_argv(v.minor, v.meta),
    "dump-md": lambda v, c: cmd.dump_md_argv(v.minor, v.meta),
    "apply-al": lambda v, c: cmd.apply_al_argv(v.minor, v.meta),
    "new-resource": lambda v, c: cmd.new_resource_argv(v.minor),
    "new-minor": lambda v, c: cmd.new_minor_argv(v.minor),
    "attach": lambda v, c: cmd.attach_argv(v),
    "disk-options": lambda v, c: cmd.disk_options_argv(v),
    "connect": lambda v, c: cmd.connect_argv(v, c.get("dual_primary", False)),
    "disconnect": lambda v, c: cmd.disconnect_argv(v),
    "primary": lambda v, c: cmd.primary_argv(v.minor, c.get("force", False)),
    "secondary": lambda v, c: cmd.secondary_argv(v.minor),
    "down": lambda v, c: cmd.down_argv(v.minor),
    "resize": lambda v, c: cmd.resize_argv(v.minor),
    "show": lambda v, c: cmd.show_argv(v.minor),
}


def _plan(case: dict[str, Any]) -> list[list[str]]:
    view = DrbdView.parse({"drbd": case["view"]}, "golden case")
    op = case["op"]
    if op == "argv":
        return [_SINGLE[case["command"]](view, case)]
    if op == "meta":
        return cmd.plan_meta(view, case["meta_created"], case["has_metadata"])
    facts = case["facts"]
    status = parse_proc_drbd(facts["proc_drbd"]).minors.get(view.minor)
    show = parse_show(facts["show"]) if facts.get("show") is not None else None
    if op == "up":
        return cmd.plan_up(view, status, show)
    if op == "role":
        two = show is not None and show.two_primaries
        return cmd.plan_role(view, status, case["primary"], case.get("force", False), two_primaries=two)
    if op == "dual":
        return cmd.plan_dual_primary(view, status, show, case["enabled"])
    if op == "down":
        return cmd.plan_down(view.minor, status)
    if op == "disconnect":
        return cmd.plan_disconnect(view, status)
    raise AssertionError(f"unknown op {op!r}")


def _output(case: dict[str, Any]) -> Any:
    try:
        return _plan(case)
    except StorageError as err:
        return {"error": str(err)}


@pytest.mark.parametrize("path", case_paths(GOLDEN), ids=os.path.basename)
def test_golden_case(path: str) -> None:
    check_case(path, _output)


def _all_expected() -> list[list[str]]:
    found = []
    for path in case_paths(GOLDEN):
        with open(path) as f:
            expected = json.load(f)["expected"]
        if isinstance(expected, list):
            found.extend(expected)
    return found


def test_every_command_line_has_a_golden_case() -> None:
    seen = {" ".join(argv[:2]) for argv in _all_expected()} | {f"drbdmeta {a[-1]}" for a in _all_expected()}
    for needed in ("drbdmeta create-md", "drbdmeta dump-md", "drbdmeta apply-al", "drbdsetup new-resource",
                   "drbdsetup new-minor", "drbdsetup attach", "drbdsetup connect", "drbdsetup disconnect",
                   "drbdsetup primary", "drbdsetup secondary", "drbdsetup down", "drbdsetup resize",
                   "drbdsetup show"):  # fmt: skip
        assert needed in seen, needed
    assert ["--force"] in ([a[3:] for a in _all_expected() if a[:2] == ["drbdsetup", "primary"]])
    assert any("--allow-two-primaries" in a for a in _all_expected())


def test_the_secret_appears_only_in_connect() -> None:
    for path in case_paths(GOLDEN):
        with open(path) as f:
            case = json.load(f)
        if not isinstance(case["expected"], list):
            assert case["view"]["secret"] not in case["expected"]["error"]
            continue
        for argv in case["expected"]:
            if case["view"]["secret"] in argv:
                assert argv[:2] == ["drbdsetup", "connect"] and argv[-2:] == ["--shared-secret", case["view"]["secret"]]
