"""The tag LUs (OP_TAGS_GET/SET/DEL/SEARCH) on a real ConfigManager: rules, locks, errors, persistence."""

from __future__ import annotations

import pytest

from gnt import opcodes
from gnt.config.manager import ConfigManager
from gnt.errors import ECODE_INVAL, ECODE_NOENT, OpPrereqError, TagError
from gnt.jobs.locking import Level
from gnt.tags import syntax
from gnt.tags.logic import LUTagsDel, LUTagsGet, LUTagsSearch, LUTagsSet
from gnt.tags.opcodes import OpTagsDel, OpTagsGet, OpTagsSearch, OpTagsSet
from tests.unit.lu.conftest import Harness


def _reloaded(harness: Harness) -> ConfigManager:
    """A second manager reading the same database: what a restarted master would see."""
    fresh = ConfigManager(harness.cfg._writer)  # noqa: SLF001 - the test reads back what was persisted
    fresh.load()
    return fresh


def test_set_adds_tags_to_each_kind_and_persists_them(harness: Harness) -> None:
    harness.add_instance("inst1", "node1")
    targets = [("cluster", None), ("node", "node2"), ("instance", "inst1"), ("nodegroup", "default")]
    for kind, name in targets:
        harness.run(OpTagsSet(kind=kind, name=name, tags=["b:2", "a.1"]), LUTagsSet)
        harness.run(OpTagsSet(kind=kind, name=name, tags=["a.1", "c@3"]), LUTagsSet)  # adding twice is a no-op
    fresh = _reloaded(harness)
    assert fresh.cluster.tags == ["a.1", "b:2", "c@3"]
    assert fresh.node("node2").tags == ["a.1", "b:2", "c@3"]
    assert fresh.instance("inst1").tags == ["a.1", "b:2", "c@3"]
    assert fresh.group("default").tags == ["a.1", "b:2", "c@3"]
    assert fresh.node("node1").tags == []
    for kind, name in targets:
        assert harness.run(OpTagsGet(kind=kind, name=name), LUTagsGet) == ["a.1", "b:2", "c@3"]


def test_del_removes_only_the_named_tags(harness: Harness) -> None:
    harness.run(OpTagsSet(kind="node", name="node1", tags=["x", "y", "z"]), LUTagsSet)
    harness.run(OpTagsDel(kind="node", name="node1", tags=["x", "z"]), LUTagsDel)
    assert _reloaded(harness).node("node1").tags == ["y"]


def test_del_of_a_missing_tag_is_ganetis_not_found_and_changes_nothing(harness: Harness) -> None:
    harness.run(OpTagsSet(kind="cluster", tags=["keep"]), LUTagsSet)
    serial = harness.cfg.serial
    with pytest.raises(OpPrereqError, match=r"^Tag\(s\) 'absent', 'gone' not found$") as err:
        harness.run(OpTagsDel(kind="cluster", tags=["keep", "gone", "absent"]), LUTagsDel)
    assert err.value.code == ECODE_NOENT
    assert harness.cfg.serial == serial and _reloaded(harness).cluster.tags == ["keep"]


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("x" * 129, r"Tag too long \(>128 characters\)"),
        ("", "Tags cannot be empty"),
        ("a b", "Tag contains invalid characters"),
        ("x;rm", "Tag contains invalid characters"),
        ("$(id)", "Tag contains invalid characters"),
    ],
)
def test_set_and_del_refuse_invalid_tags(harness: Harness, tag: str, message: str) -> None:
    serial = harness.cfg.serial
    for op_cls, lu_cls in ((OpTagsSet, LUTagsSet), (OpTagsDel, LUTagsDel)):
        with pytest.raises(TagError, match=message):
            harness.run(op_cls(kind="node", name="node1", tags=["ok", tag]), lu_cls)
        with pytest.raises(OpPrereqError, match=f"OP_TAGS_.*.tags' fails validation: {message}"):
            opcodes.from_dict({"OP_ID": op_cls.OP_ID, "kind": "node", "name": "node1", "tags": [tag]})
    assert harness.cfg.serial == serial and harness.cfg.node("node1").tags == []


def test_a_tag_of_exactly_128_characters_is_valid(harness: Harness) -> None:
    harness.run(OpTagsSet(kind="node", name="node1", tags=["x" * 128]), LUTagsSet)
    assert harness.cfg.node("node1").tags == ["x" * 128]


def test_set_refuses_to_go_past_4096_tags_and_changes_nothing(harness: Harness) -> None:
    first = [f"t{i}" for i in range(4000)]
    harness.run(OpTagsSet(kind="instance", name=harness.add_instance("i1", "node1").name, tags=first), LUTagsSet)
    more = [f"u{i}" for i in range(97)]
    with pytest.raises(TagError, match="Too many tags: instance i1 would hold 4097, at most 4096 are allowed"):
        harness.run(OpTagsSet(kind="instance", name="i1", tags=more), LUTagsSet)
    assert len(_reloaded(harness).instance("i1").tags) == 4000
    harness.run(OpTagsSet(kind="instance", name="i1", tags=more[:96]), LUTagsSet)  # exactly 4096 is fine
    assert len(_reloaded(harness).instance("i1").tags) == syntax.MAX_TAGS_PER_OBJ
    with pytest.raises(OpPrereqError, match="Too many tags: 4097 given"):
        opcodes.from_dict({"OP_ID": "OP_TAGS_SET", "kind": "cluster", "tags": [f"v{i}" for i in range(4097)]})


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("node", "node9", "Node 'node9' not known"),
        ("instance", "ghost", "Instance 'ghost' not known"),
        ("nodegroup", "nogroup", "Node group 'nogroup' not known"),
    ],
)
def test_unknown_objects_are_unknown_entity(harness: Harness, kind: str, name: str, message: str) -> None:
    for op, lu_cls in (
        (OpTagsSet(kind=kind, name=name, tags=["a"]), LUTagsSet),
        (OpTagsDel(kind=kind, name=name, tags=["a"]), LUTagsDel),
        (OpTagsGet(kind=kind, name=name), LUTagsGet),
    ):
        with pytest.raises(OpPrereqError, match=message) as err:
            harness.run(op, lu_cls)
        assert err.value.code == ECODE_NOENT


def test_unknown_kind_and_missing_name_are_refused_at_submission() -> None:
    with pytest.raises(OpPrereqError, match=r"Wrong tag type requested \(filter\)") as err:
        LUTagsSet.check_opcode(OpTagsSet(kind="filter", name="n1", tags=["a"]))
    assert err.value.code == ECODE_INVAL
    with pytest.raises(OpPrereqError, match="'name' is required for tags of kind 'instance'"):
        opcodes.from_dict({"OP_ID": "OP_TAGS_GET", "kind": "instance"})


def test_locks_are_the_objects_own_shared_only_for_reads(harness: Harness) -> None:
    def wanted(lu_cls: type, op: opcodes.OpCode) -> dict[Level, tuple[list[str] | str, bool]]:
        lu = lu_cls(op, harness.ctx, lambda *_: None)
        return {lvl: (r.names, r.shared) for lvl in Level if (r := lu.locks_at(lvl)) is not None}

    bgl = {Level.CLUSTER: (["BGL"], True)}
    assert wanted(LUTagsSet, OpTagsSet(kind="instance", name="i1", tags=["a"])) == {
        **bgl,
        Level.INSTANCE: (["i1"], False),
    }
    assert wanted(LUTagsDel, OpTagsDel(kind="node", name="node2", tags=["a"])) == {
        **bgl,
        Level.NODE: (["node2"], False),
    }
    assert wanted(LUTagsSet, OpTagsSet(kind="nodegroup", name="default", tags=["a"])) == {
        **bgl,
        Level.NODEGROUP: (["default"], False),
    }
    assert wanted(LUTagsSet, OpTagsSet(kind="cluster", tags=["a"])) == bgl
    assert wanted(LUTagsGet, OpTagsGet(kind="node", name="node1", use_locking=True)) == {
        **bgl,
        Level.NODE: (["node1"], True),
    }
    assert wanted(LUTagsGet, OpTagsGet(kind="node", name="node1")) == bgl
    assert wanted(LUTagsSearch, OpTagsSearch(pattern="a")) == bgl


def test_search_finds_matching_tags_on_every_kind_with_ganetis_paths(harness: Harness) -> None:
    harness.add_instance("inst1", "node1")
    for kind, name in (("cluster", None), ("node", "node2"), ("instance", "inst1"), ("nodegroup", "default")):
        harness.run(OpTagsSet(kind=kind, name=name, tags=[f"env:{kind}", "other"]), LUTagsSet)
    found = harness.run(OpTagsSearch(pattern="^env:"), LUTagsSearch)
    assert found == [
        ["/cluster", "env:cluster"],
        ["/instances/inst1", "env:instance"],
        ["/nodegroup/default", "env:nodegroup"],
        ["/nodes/node2", "env:node"],
    ]
    assert harness.run(OpTagsSearch(pattern="nothing-like-this"), LUTagsSearch) == []


def test_search_refuses_an_invalid_pattern(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match=r"Invalid search pattern '\(unclosed': missing \)") as err:
        LUTagsSearch.check_opcode(OpTagsSearch(pattern="(unclosed"))
    assert err.value.code == ECODE_INVAL
    with pytest.raises(OpPrereqError, match="Invalid search pattern"):
        harness.run(OpTagsSearch(pattern="a{2,1}"), LUTagsSearch)


def test_job_summaries_are_ganetis() -> None:
    assert OpTagsGet(kind="node", name="node1").summary() == "TAGS_GET(node1)"
    assert OpTagsGet(kind="cluster").summary() == "TAGS_GET(None)"
    assert OpTagsSet(kind="node", name="node1", tags=["a"]).summary() == "TAGS_SET"
    assert OpTagsDel(kind="cluster", tags=["a"]).summary() == "TAGS_DEL"
    assert OpTagsSearch(pattern="^rack:").summary() == "TAGS_SEARCH(^rack:)"
