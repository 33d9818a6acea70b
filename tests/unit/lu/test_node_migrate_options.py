"""LUNodeMigrate hands the migration mode and --ignore-ipolicy to each instance's job."""

from __future__ import annotations

from gnt import opcodes
from tests.unit.lu.conftest import Harness


def test_the_node_migrate_lu_hands_them_to_each_instance_job(harness: Harness) -> None:
    from gnt.instance.migrate import LUNodeMigrate

    harness.add_instance("inst1", "node2", up=True)
    op = opcodes.OpNodeMigrate(node_name="node2", mode="non-live", ignore_ipolicy=True)
    harness.run(op, LUNodeMigrate)
    ((job_op,),) = harness.queue.jobs
    assert (job_op["instance_name"], job_op["mode"], job_op["ignore_ipolicy"]) == ("inst1", "non-live", True)


def test_no_runtime_changes_reaches_each_instance_job(harness: Harness) -> None:
    from gnt.instance.migrate import LUNodeMigrate

    harness.add_instance("inst1", "node2", up=True)
    harness.run(opcodes.OpNodeMigrate(node_name="node2", allow_runtime_changes=False), LUNodeMigrate)
    ((job_op,),) = harness.queue.jobs
    assert job_op["allow_runtime_changes"] is False
    opcodes.from_dict(job_op)  # still a valid instance migration
