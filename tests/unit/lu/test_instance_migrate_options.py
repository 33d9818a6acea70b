"""gnt-instance migrate's memory rule (Ganeti's): the target needs room for the instance's minimum
memory; a guest using more than the target has free is ballooned down to it before it moves, unless
--no-runtime-changes (allow_runtime_changes=False), which refuses the move before anything changes."""

from __future__ import annotations

import dataclasses

import pytest

from gnt import disktypes
from gnt.errors import ECODE_NORES, ECODE_STATE, OpPrereqError
from gnt.instance.migrate import LUInstanceMigrate
from gnt.opcodes import OpInstanceMigrate
from tests.unit.lu.conftest import Harness


@pytest.fixture
def tight(harness: Harness) -> Harness:
    """inst1 runs on node1 with 128 MiB (minmem 64, maxmem 256); node2 has 100 MiB free."""
    harness.add_instance("inst1", "node1", template="sharedfile", beparams={"minmem": 64, "maxmem": 256})
    harness.nodes["node2"].memory_free = 100
    return harness


def migrate(**kw: object) -> OpInstanceMigrate:
    return OpInstanceMigrate(instance_name="inst1", target_node="node2", **kw)  # type: ignore[arg-type]


def balloons(h: Harness) -> list[int]:
    return [args.memory for name, args in h.nodes["node1"].calls if name == "instance_balloon_memory"]


def test_a_guest_larger_than_the_targets_free_memory_is_ballooned_down_first(tight: Harness) -> None:
    tight.run(migrate(), LUInstanceMigrate)
    assert balloons(tight) == [100]
    names = tight.nodes["node1"].names()
    assert names.index("instance_balloon_memory") < names.index("migrate_instance")
    assert tight.cfg.instance("inst1").primary_node == tight.cfg.node("node2").uuid
    assert "* ballooning instance inst1 to 100 MiB" in tight.log


def test_no_runtime_changes_refuses_instead_of_ballooning(tight: Harness) -> None:
    with pytest.raises(OpPrereqError, match="Memory ballooning not allowed and not enough free memory") as err:
        tight.run(migrate(allow_runtime_changes=False), LUInstanceMigrate)
    assert err.value.code == ECODE_NORES
    assert "(have 100 MiB, need 128 MiB)" in str(err.value)
    assert balloons(tight) == [] and "accept_instance" not in tight.nodes["node2"].names()
    assert tight.cfg.instance("inst1").primary_node == tight.cfg.node("node1").uuid


def test_a_guest_that_fits_is_not_touched_either_way(tight: Harness) -> None:
    tight.nodes["node2"].memory_free = 128
    tight.run(migrate(allow_runtime_changes=False), LUInstanceMigrate)
    assert balloons(tight) == [] and tight.cfg.instance("inst1").primary_node == tight.cfg.node("node2").uuid


def test_the_target_must_fit_the_minimum_memory(tight: Harness) -> None:
    tight.nodes["node2"].memory_free = 50
    with pytest.raises(OpPrereqError) as err:
        tight.run(migrate(), LUInstanceMigrate)
    assert str(err.value) == (
        "Not enough memory on node node2 for migrating instance inst1: needed 64 MiB, available 50 MiB"
    )
    assert balloons(tight) == []


def test_a_hypervisor_that_cannot_balloon_is_refused_before_anything_changes(
    tight: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    caps = dataclasses.replace(disktypes.hypervisor("fake"), balloons=False)
    monkeypatch.setattr(disktypes, "hypervisor", lambda name: caps)
    with pytest.raises(OpPrereqError, match="hypervisor fake cannot balloon"):
        tight.run(migrate(), LUInstanceMigrate)
    assert balloons(tight) == []


# -- hypervisor versions (--ignore-hvversions) ---------------------------------------------------------


@pytest.fixture
def versioned(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """inst1 on node1, its hypervisor one that reports versions (as xen's node_info does)."""
    caps = dataclasses.replace(disktypes.hypervisor("fake"), reports_version=True)
    monkeypatch.setattr(disktypes, "hypervisor", lambda name: caps)
    harness.add_instance("inst1", "node1", template="sharedfile")
    return harness


def _report_versions(h: Harness, source: str, target: str) -> None:
    for name, version in (("node1", source), ("node2", target)):
        node = h.nodes[name]
        plain = node.do_node_info

        def with_version(args: object, plain: object = plain, version: str = version) -> dict:
            info = plain(args)  # type: ignore[operator]
            info["hv"]["fake"]["xen_version"] = version
            return info

        node.do_node_info = with_version  # type: ignore[method-assign]


def _moved(h: Harness) -> bool:
    return h.cfg.instance("inst1").primary_node == h.cfg.node("node2").uuid


def test_a_migration_across_hypervisor_versions_is_refused(versioned: Harness) -> None:
    _report_versions(versioned, "4.16.2", "4.17.0")
    with pytest.raises(OpPrereqError, match=r"Hypervisor version mismatch between source \(4.16.2\) and target") as e:
        versioned.run(migrate(), LUInstanceMigrate)
    assert e.value.code == ECODE_STATE and "--ignore-hvversions" in str(e.value)
    assert not _moved(versioned) and "accept_instance" not in versioned.nodes["node2"].names()


def test_ignore_hvversions_migrates_anyway_with_a_warning(versioned: Harness) -> None:
    _report_versions(versioned, "4.16.2", "4.17.0")
    versioned.run(migrate(ignore_hvversions=True), LUInstanceMigrate)
    assert _moved(versioned)
    assert any("Hypervisor version mismatch between source (4.16.2) and target (4.17.0)" in m for m in versioned.log)


@pytest.mark.parametrize(("source", "target", "warned"), [("4.17.3", "4.17.3", False), ("4.17.3", "4.17.4-pre", True)])
def test_the_same_major_minor_migrates(versioned: Harness, source: str, target: str, warned: bool) -> None:
    _report_versions(versioned, source, target)
    versioned.run(migrate(), LUInstanceMigrate)
    assert _moved(versioned)
    assert any("version mismatch" in m for m in versioned.log) is warned


def test_the_memory_and_the_version_checks_read_one_node_info_per_node(versioned: Harness) -> None:
    """Both checks read the same fresh answers: each node is asked once, both at once."""
    import asyncio

    _report_versions(versioned, "4.17.3", "4.17.3")
    in_flight, most = [0], [0]
    for name in ("node1", "node2"):
        node = versioned.nodes[name]
        answer = node.do_node_info

        async def slow(args: object, answer: object = answer) -> dict:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
            await asyncio.sleep(0.01)
            in_flight[0] -= 1
            return answer(args)  # type: ignore[no-any-return, operator]

        node.do_node_info = slow  # type: ignore[method-assign]
    versioned.run(migrate(), LUInstanceMigrate)
    assert _moved(versioned) and most[0] == 2
    assert [versioned.nodes[n].names().count("node_info") for n in ("node1", "node2")] == [1, 1]


def test_a_memory_shortage_is_reported_before_a_version_mismatch(versioned: Harness) -> None:
    _report_versions(versioned, "4.16.2", "4.17.0")
    versioned.nodes["node2"].memory_free = 16
    with pytest.raises(OpPrereqError, match="Not enough memory on node node2"):
        versioned.run(migrate(), LUInstanceMigrate)
    assert not _moved(versioned)


def test_hypervisors_without_versions_are_not_asked(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="sharedfile")
    harness.run(migrate(), LUInstanceMigrate)
    assert "node_info" not in harness.nodes["node1"].names()  # only the target's memory is asked for
