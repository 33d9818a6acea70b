"""Logical units on the in-process transport: a real ConfigManager, node doubles behind the real dispatcher.

Each `FakeNode` answers the declared procedures from a little in-memory state (disks, running
guests, free memory), through `agent.dispatcher.Dispatcher`, so every call an LU makes is
decoded strictly against the procedure table and its disk paths are confined exactly as on a real
node. `node.fail["instance_start"] = OpExecError(...)` makes one procedure fail, to test rollback.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.dispatcher import Dispatcher
from gnt import PROTOCOL_VERSION, serial
from gnt.config.manager import ConfigManager
from gnt.errors import GntError
from gnt.jobs.locking import LockManager
from gnt.jobs.lu import Context, LogicalUnit
from gnt.jobs.services import MasterServices
from gnt.objects import Disk, Instance, new_uuid
from gnt.opcodes import OpCode
from gnt.rpc.client import RpcClient
from gnt.rpc.procedures import TABLE
from gnt.rpc.transport import InProcessTransport
from gnt.runtime import DiskSpec, InstanceSpec

FILE_DIR = "/srv/gnt/file-storage"
SHARED_DIR = "/srv/gnt/shared-file-storage"


@dataclass
class FakeNode:
    name: str
    memory_free: int = 4096
    disks: dict[str, DiskSpec] = field(default_factory=dict)
    running: dict[str, InstanceSpec] = field(default_factory=dict)
    ssconf: dict[str, str] = field(default_factory=dict)
    fail: dict[str, GntError] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    #: what migration_status answers
    migration: dict[str, Any] = field(default_factory=lambda: {"phase": "completed", "downtime": 5, "total_time": 50})
    reported_name: str | None = None
    #: procedure -> the (1-based) call that fails with `fail[procedure]`; others succeed
    fail_on: dict[str, int] = field(default_factory=dict)

    def dispatcher(self) -> Dispatcher:
        return Dispatcher({name: self._handler(name) for name in TABLE})

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def _handler(self, name: str) -> Any:
        async def handle(args: Any) -> Any:
            self.calls.append((name, args))
            nth = self.fail_on.get(name)
            if name in self.fail and (nth is None or self.names().count(name) == nth):
                raise self.fail[name]
            method = getattr(self, f"do_{name}", None)
            result = method(args) if method else None
            return await result if inspect.isawaitable(result) else result  # a real driver's coroutine

        return handle

    def do_version(self, args: Any) -> dict[str, Any]:
        return {"protocol": PROTOCOL_VERSION, "version": "test", "node": self.reported_name or self.name}

    def do_node_info(self, args: Any) -> dict[str, Any]:
        hv = {h: {"memory_free": self.memory_free, "memory_total": 8192, "cpu_total": 4} for h in args.hypervisors}
        storage = [{"type": "file", "name": d, "total": 100_000, "free": 90_000} for d in args.storage_dirs]
        return {"hv": hv, "storage": storage, "bootid": "b", "cpu_total": 4, "arch": "x86_64"}

    def do_instance_info(self, args: Any) -> dict[str, Any] | None:
        spec = self.running.get(args.name)
        return None if spec is None else {"name": spec.name, "state": "running", "memory": spec.memory, "vcpus": 1}

    def do_instance_start(self, args: Any) -> None:
        self.running[args.instance.name] = args.instance

    def do_instance_shutdown(self, args: Any) -> None:
        self.running.pop(args.instance.name, None)

    def do_blockdev_create(self, args: Any) -> str:
        self.disks[args.disk.uuid] = args.disk
        return str(args.disk.logical_id[-1]) if args.disk.logical_id else ""

    def do_blockdev_remove(self, args: Any) -> None:
        self.disks.pop(args.disk.uuid, None)

    def do_accept_instance(self, args: Any) -> dict[str, Any]:
        return {"port": 1234}

    def do_migration_status(self, args: Any) -> dict[str, Any]:
        return {"transferred": 0, "remaining": 0, "dirty_rate": 0, "expected_downtime": 0, **self.migration}

    def do_finalize_migration_dst(self, args: Any) -> None:
        if args.success:
            self.running[args.instance.name] = args.instance

    def do_finalize_migration_src(self, args: Any) -> None:
        if args.success:
            self.running.pop(args.instance.name, None)

    def do_ssconf_write(self, args: Any) -> None:
        self.ssconf.update(args.values)

    def do_config_apply(self, args: Any) -> dict[str, Any]:
        return {"resync": False, "serial": 0}

    def do_config_replace(self, args: Any) -> int:
        return int(args.serial)


class Queue:
    """Stands in for the job queue of LUs that submit jobs (node migrate/evacuate)."""

    def __init__(self) -> None:
        self.jobs: list[list[dict[str, Any]]] = []

    async def submit_many(self, jobs: list[list[dict[str, Any]]]) -> list[tuple[bool, Any]]:
        self.jobs.extend(jobs)
        return [(True, 100 + i) for i, _ in enumerate(jobs)]


@dataclass
class Harness:
    cfg: ConfigManager
    nodes: dict[str, FakeNode]
    ctx: Context
    queue: Queue
    log: list[str] = field(default_factory=list)

    def run(self, op: OpCode, lu_class: type[LogicalUnit]) -> Any:
        """check_arguments, check_prereq, exec: the processor's phases, without its locks."""
        lu = lu_class(op, self.ctx, lambda message, kind: self.log.append(message))

        async def phases() -> Any:
            lu.check_arguments()
            prereq = lu.check_prereq()
            if inspect.isawaitable(prereq):
                await prereq
            return await lu.exec()

        return asyncio.run(phases())

    def add_instance(self, name: str, node: str, template: str = "diskless", up: bool = True, **kw: Any) -> Instance:
        """An existing instance (in the config, its disks and guest on `node`)."""
        inst = Instance(
            name=name,
            primary_node=self.cfg.node(node).uuid,
            hypervisor="fake",
            disk_template=template,
            admin_state="up" if up else "down",
            **kw,
        )
        if template != "diskless":
            base = FILE_DIR if template == "file" else SHARED_DIR
            inst.disks = [
                Disk(uuid=new_uuid(), size=64, dev_type=template, logical_id=["loop", f"{base}/{name}/disk0"])
            ]
            for d in inst.disks:
                self.nodes[node].disks[d.uuid] = DiskSpec(d.uuid, 0, d.size, template, list(d.logical_id))
        asyncio.run(self.cfg.commit([inst]))
        if up:
            self.nodes[node].running[name] = serial.from_dict(
                InstanceSpec, {"name": name, "uuid": inst.uuid, "hypervisor": "fake", "memory": 128, "vcpus": 1}
            )
        return inst


@pytest.fixture
def harness(cfg: ConfigManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """Cluster of the shared `cfg` (node1 master, node2), file dirs set, each node a FakeNode."""
    for name in ("node1", "node2", "node3"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    cfg.cluster.file_storage_dir = FILE_DIR
    cfg.cluster.shared_file_storage_dir = SHARED_DIR
    asyncio.run(cfg.commit([cfg.cluster]))
    nodes = {name: FakeNode(name) for name in ("node1", "node2", "node3")}
    rpc = RpcClient(InProcessTransport({n.name: n.dispatcher().answer for n in nodes.values() if n.name != "node3"}))
    services = MasterServices(cfg, rpc)
    queue = Queue()
    services.queue = queue
    ctx = Context(cfg=cfg, rpc=rpc, locks=LockManager(), services=services)
    harness = Harness(cfg, nodes, ctx, queue)
    harness.transport = rpc.transport  # type: ignore[attr-defined]
    yield harness
