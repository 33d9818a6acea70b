"""LU registration is the daemon's wiring: the job layer runs the registry it is handed."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from daemons.registry import logical_units
from gnt import opcodes
from gnt.jobs.lu import LogicalUnit, Registry, register

LU_MODULES = (
    "gnt.backup.export",
    "gnt.backup.move",
    "gnt.cluster.disk_sizes",
    "gnt.cluster.logic",
    "gnt.cluster.master_ip",
    "gnt.cluster.redist",
    "gnt.cluster.renew_crypto",
    "gnt.cluster.rename",
    "gnt.cluster.verify_disks",
    "gnt.debug.iallocator",
    "gnt.debug.jqueue",
    "gnt.debug.logic",
    "gnt.group.evacuate",
    "gnt.group.logic",
    "gnt.instance.change_group",
    "gnt.instance.create",
    "gnt.instance.disks",
    "gnt.instance.lifecycle",
    "gnt.instance.migrate",
    "gnt.instance.multi_alloc",
    "gnt.instance.query_data",
    "gnt.instance.reinstall",
    "gnt.instance.rename",
    "gnt.instance.replace_disks",
    "gnt.extstorage.logic",
    "gnt.network.logic",
    "gnt.node.logic",
    "gnt.node.powercycle",
    "gnt.node.restricted",
    "gnt.node.storage",
    "gnt.oob.logic",
    "gnt.os.logic",
    "gnt.tags.logic",
)


def test_importing_the_master_does_not_import_logical_units() -> None:
    code = "import sys, gnt.jobs.master, gnt.jobs.queue; print(','.join(m for m in sys.modules if m in %r))"
    out = subprocess.run(
        [sys.executable, "-c", code % (LU_MODULES,)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_daemon_registry_serves_every_registered_lu() -> None:
    registry = logical_units()
    modules = [sys.modules[name] for name in LU_MODULES]
    marked = {
        obj
        for module in modules
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, LogicalUnit) and "_runs_opcode" in vars(obj)
    }
    assert set(registry.values()) == marked
    assert {"OP_TEST_DELAY", "OP_INSTANCE_CREATE", "OP_INSTANCE_MIGRATE", "OP_CLUSTER_SET_PARAMS"} <= set(registry)
    assert all(op_id in opcodes.OPCODES for op_id in registry)
    for op_id, lu_cls in registry.items():
        assert op_id == lu_cls.OPCODE.OP_ID


def test_registry_refuses_two_lus_for_one_opcode() -> None:
    module = types.ModuleType("twice")

    class A(LogicalUnit):
        OPCODE = opcodes.OpTestDelay

    class B(LogicalUnit):
        OPCODE = opcodes.OpTestDelay

    for cls in (A, B):
        cls.__module__ = module.__name__
        setattr(module, cls.__name__, register(cls))
    with pytest.raises(ValueError, match="OP_TEST_DELAY is run by both A and B"):
        Registry.from_modules([module])


def test_unmarked_and_imported_classes_are_not_collected() -> None:
    module = types.ModuleType("partial")

    class Base(LogicalUnit):  # a helper base class: no @register
        OPCODE = opcodes.OpTestDelay

    Base.__module__ = module.__name__
    module.Base = Base  # type: ignore[attr-defined]
    module.Imported = logical_units()["OP_TEST_DELAY"]  # type: ignore[attr-defined]
    assert Registry.from_modules([module]) == {}
