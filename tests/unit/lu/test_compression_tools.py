"""The cluster's compression tools (`gnt-cluster init/modify --compression-tools`, Ganeti's
compression_tools): Ganeti's rules for the list, gnt's refusal of tools its transports cannot run,
and moves, exports and imports refused (before anything is touched) when they ask for a tool the
list does not allow."""

from __future__ import annotations

from typing import Any

import pytest

from gnt import compression
from gnt.backup.export import LUBackupExport
from gnt.backup.move import LUInstanceMove
from gnt.backup.opcodes import OpBackupExport, OpInstanceMove
from gnt.cluster.logic import LUClusterSetParams
from gnt.errors import ECODE_INVAL, OpPrereqError
from gnt.instance.create import LUInstanceCreate
from gnt.opcodes import OpClusterSetParams, OpInstanceCreate, from_dict
from tests.unit.lu.conftest import Harness

NOT_ALLOWED = r"^Compression tool not allowed, tools allowed are \[gzip\]$"


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        (["gzip", "x;rm"], "The tools 'x;rm' contain illegal characters: only alphanumeric values, dashes, and"),
        (["gzip-fast"], "For compatibility reasons, the gzip utility must be present among the compression tools"),
        (["gzip", "none"], "none is a reserved value used for no compression, and cannot be used as the name of a"),
        (["gzip", "lzop"], "Unsupported compression tool(s) lzop: gnt's transports compress with gzip, gzip-fast,"),
    ],
)
def test_a_bad_list_is_refused_with_ganetis_reason(tools: list[str], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        compression.check_tools(tools)
    with pytest.raises(OpPrereqError, match="compression_tools") as err:
        from_dict({"OP_ID": "OP_CLUSTER_SET_PARAMS", "compression_tools": tools})
    assert err.value.code == ECODE_INVAL


def test_modify_stores_the_list(harness: Harness) -> None:
    assert harness.cfg.cluster.compression_tools == ["gzip", "gzip-fast", "gzip-slow"]  # Ganeti's default
    harness.run(OpClusterSetParams(compression_tools=["gzip"]), LUClusterSetParams)
    assert harness.cfg.cluster.compression_tools == ["gzip"]


@pytest.fixture
def gzip_only(harness: Harness) -> Harness:
    harness.cfg.cluster.compression_tools = ["gzip"]
    harness.add_instance("inst1", "node1", template="file", up=True, os="noop")
    return harness


def _refused(h: Harness, op: Any, lu: Any) -> None:
    before = {name: list(node.calls) for name, node in h.nodes.items()}
    with pytest.raises(OpPrereqError, match=NOT_ALLOWED) as err:
        h.run(op, lu)
    assert err.value.code == ECODE_INVAL
    assert {name: list(node.calls) for name, node in h.nodes.items()} == before  # nothing shut down or made
    assert "inst1" in h.nodes["node1"].running


def test_export_and_move_refuse_a_tool_the_list_does_not_allow(gzip_only: Harness) -> None:
    _refused(
        gzip_only, OpBackupExport(instance_name="inst1", target_node="node2", compress="gzip-fast"), LUBackupExport
    )
    _refused(
        gzip_only, OpInstanceMove(instance_name="inst1", target_node="node2", compress="gzip-slow"), LUInstanceMove
    )


def test_import_refuses_a_tool_the_list_does_not_allow(gzip_only: Harness) -> None:
    op = OpInstanceCreate(
        instance_name="imp", mode="import", pnode="node1", src_node="node2", compress="gzip-fast", name_check=False
    )
    _refused(gzip_only, op, LUInstanceCreate)
    assert gzip_only.cfg.find_instance("imp") is None


@pytest.mark.parametrize("tool", ["none", "gzip"])
def test_none_and_listed_tools_pass_the_check(gzip_only: Harness, tool: str) -> None:
    from gnt.backup.copy import check_compression

    class Lu:
        cfg = gzip_only.cfg

    check_compression(Lu(), tool)  # type: ignore[arg-type]


def test_an_unknown_transport_compression_is_refused_at_submission() -> None:
    with pytest.raises(OpPrereqError, match="unknown compression tool 'lzop'"):
        from_dict({"OP_ID": "OP_BACKUP_EXPORT", "instance_name": "i", "target_node": "n", "compress": "lzop"})
