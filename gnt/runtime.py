"""What the master tells a node about an instance, and what the node reports back.

These records cross the RPC boundary: the master builds them from the config, node-side drivers
(`backends/`, `storage/`) consume them. They carry everything a node needs, so a node never reads
the cluster config.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DiskSpec:
    """One instance disk as a node sees it."""

    uuid: str
    index: int
    size: int  # MiB
    dev_type: str  # diskless/file/sharedfile/plain/drbd/blockdev
    logical_id: list[str] = field(default_factory=list)
    mode: str = "rw"
    name: str | None = None
    #: filled in by the node once the device is assembled
    path: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class NicSpec:
    uuid: str
    mac: str
    mode: str = "bridged"  # bridged | routed | openvswitch
    link: str = ""
    ip: str | None = None
    vlan: str = ""
    name: str | None = None
    network: str | None = None


@dataclass
class InstanceSpec:
    """Everything a hypervisor needs to run one instance."""

    name: str
    uuid: str
    hypervisor: str
    memory: int  # MiB
    vcpus: int
    os: str = ""
    hvparams: dict[str, Any] = field(default_factory=dict)
    beparams: dict[str, Any] = field(default_factory=dict)
    osparams: dict[str, Any] = field(default_factory=dict)
    disks: list[DiskSpec] = field(default_factory=list)
    nics: list[NicSpec] = field(default_factory=list)
    disk_template: str = "diskless"
    network_port: int | None = None


class RunState(enum.StrEnum):
    """What a hypervisor says about a guest it knows."""

    RUNNING = "running"
    """The guest runs."""
    PAUSED = "paused"
    """Created but its CPUs are stopped (start --paused, or an incoming migration)."""
    SHUTDOWN = "shutdown"
    """The guest powered itself off (user shutdown): not a crash, do not restart."""
    CRASHED = "crashed"
    """The guest's process died without the guest asking for it."""


@dataclass
class InstanceRuntime:
    """A node's live view of one guest."""

    name: str
    state: RunState
    memory: int
    vcpus: int
    pid: int | None = None
    uptime: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class MigrationPhase(enum.StrEnum):
    ACTIVE = "active"
    """Transfer under way."""
    COMPLETED = "completed"
    """Done; the target holds the guest."""
    FAILED = "failed"
    """Aborted or broke; the source keeps the guest."""
    CANCELLED = "cancelled"
    """Cancelled on request; the source keeps the guest."""


@dataclass
class MigrationStatus:
    """Progress of an outgoing migration, polled by the master from the source node."""

    phase: MigrationPhase
    transferred: int = 0  # bytes
    remaining: int = 0  # bytes
    total: int = 0  # bytes
    dirty_rate: int = 0  # pages/s
    expected_downtime: int = 0  # ms
    downtime: int | None = None  # ms, once completed
    total_time: int | None = None  # ms, once completed
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: a hypervisor that cannot fill the figures above says what it knows instead (xl: the bytes its
    #: stream has sent); the master then logs this line, not figures that would read as zeros
    progress: str = ""
