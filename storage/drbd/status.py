"""Facts: what the DRBD kernel module reports, parsed into records (pure functions).

`/proc/drbd` (the 8.4 format) names the module's version on its first line and then, per
allocated minor, its connection state (cs), roles (ro, local/peer), disk states (ds, local/peer)
and, while a resync runs, a progress line (`sync'ed: 41.2% (41984/65536)K`) and a speed line.
A minor that is allocated but has neither disk nor network shows only `cs:Unconfigured`; a minor
that is not allocated is absent. One read answers for every disk of the node.

`drbdsetup show MINOR` tells which backing devices and peer address a minor uses, so a minor in
use by another disk is refused rather than taken over. Its output includes the shared secret:
`parse_show` keeps only the devices and addresses, and nothing here logs raw output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gnt.errors import StorageError

_VERSION_RE = re.compile(r"^version: (\d+)\.(\d+)\.(\d+)\S*(?: \(api:(\d+)/proto:([\d-]+)\))?")
_MINOR_RE = re.compile(r"^\s*(\d+): cs:(\S+)(?:\s+ro:(\S+?)/(\S+))?(?:\s+ds:(\S+?)/(\S+))?")
_SYNC_RE = re.compile(r"sync'ed:\s*([\d.]+)%")
_SPEED_RE = re.compile(r"speed:\s*([\d,]+)")
_FINISH_RE = re.compile(r"finish:\s*(\d+):(\d+):(\d+)")
_OOS_RE = re.compile(r"\boos:(\d+)")

#: connection states in which the resource is linked to its peer and replicating (or resyncing)
CONNECTED_STATES = frozenset(
    {"Connected", "SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT", "StartingSyncS", "StartingSyncT",
     "WFBitMapS", "WFBitMapT", "WFSyncUUID", "VerifyS", "VerifyT"}
)  # fmt: skip
RESYNC_STATES = frozenset({"SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT"})
#: states in which a network configuration exists (waiting for, or talking to, the peer)
NETWORK_STATES = CONNECTED_STATES | {"WFConnection", "WFReportParams", "Disconnecting", "Unconnected", "Timeout",
                                     "BrokenPipe", "NetworkFailure", "ProtocolError", "TearDown"}  # fmt: skip


@dataclass(frozen=True)
class MinorStatus:
    """One minor's line(s) in /proc/drbd."""

    minor: int
    cstate: str
    role: str = "Unknown"
    peer_role: str = "Unknown"
    disk: str = "Diskless"
    peer_disk: str = "DUnknown"
    #: resync progress in percent while a resync runs, else None
    sync_percent: float | None = None
    #: estimated seconds left in the resync, and its current speed (KiB/s)
    sync_eta: int | None = None
    sync_speed: int | None = None
    #: KiB out of sync with the peer
    out_of_sync: int = 0

    @property
    def unconfigured(self) -> bool:
        """Allocated, but with neither backing disk nor network."""
        return self.cstate == "Unconfigured"

    @property
    def attached(self) -> bool:
        return self.disk not in ("Diskless", "Attaching", "Failed", "Detaching") and not self.unconfigured

    @property
    def has_network(self) -> bool:
        return self.cstate in NETWORK_STATES

    @property
    def connected(self) -> bool:
        return self.cstate in CONNECTED_STATES

    @property
    def is_primary(self) -> bool:
        return self.role == "Primary"

    @property
    def in_sync(self) -> bool:
        return self.cstate == "Connected" and self.disk == "UpToDate" and self.peer_disk == "UpToDate"

    @property
    def degraded(self) -> bool:
        """Not fully replicated: either side not UpToDate, or not connected."""
        return not self.in_sync

    def to_dict(self) -> dict[str, object]:
        return {
            "minor": self.minor,
            "cstate": self.cstate,
            "role": self.role,
            "peer_role": self.peer_role,
            "disk": self.disk,
            "peer_disk": self.peer_disk,
            "sync_percent": self.sync_percent,
            "sync_eta": self.sync_eta,
            "sync_speed": self.sync_speed,
            "out_of_sync": self.out_of_sync,
            "in_sync": self.in_sync,
        }


@dataclass(frozen=True)
class ProcDrbd:
    """The whole of /proc/drbd: the module's version and every allocated minor."""

    version: tuple[int, int, int]
    api: int | None = None
    proto: str = ""
    minors: dict[int, MinorStatus] = field(default_factory=dict)

    @property
    def version_text(self) -> str:
        return ".".join(str(v) for v in self.version)


def parse_proc_drbd(text: str) -> ProcDrbd:
    lines = text.splitlines()
    head = next((line for line in lines if line.startswith("version:")), None)
    match = _VERSION_RE.match(head or "")
    if match is None:
        raise StorageError(f"/proc/drbd has no version line DRBD would print: {(head or text[:80])!r}")
    major, minor, patch, api, proto = match.groups()
    minors: dict[int, MinorStatus] = {}
    current: dict[str, object] | None = None
    for line in lines:
        found = _MINOR_RE.match(line)
        if found:
            if current is not None:
                minors[int(current["minor"])] = MinorStatus(**current)  # type: ignore[arg-type]
            number, cs, ro, pro, ds, pds = found.groups()
            current = {"minor": int(number), "cstate": cs}
            if ro:
                current.update(role=ro, peer_role=pro)
            if ds:
                current.update(disk=ds, peer_disk=pds)
            continue
        if current is None:
            continue
        _progress(line, current)
    if current is not None:
        minors[int(current["minor"])] = MinorStatus(**current)  # type: ignore[arg-type]
    return ProcDrbd((int(major), int(minor), int(patch)), int(api) if api else None, proto or "", minors)


def _progress(line: str, current: dict[str, object]) -> None:
    """The counters and resync lines under a minor."""
    if (oos := _OOS_RE.search(line)) is not None:
        current["out_of_sync"] = int(oos.group(1))
    if (sync := _SYNC_RE.search(line)) is not None:
        current["sync_percent"] = float(sync.group(1))
    if (finish := _FINISH_RE.search(line)) is not None:
        hours, minutes, seconds = (int(x) for x in finish.groups())
        current["sync_eta"] = hours * 3600 + minutes * 60 + seconds
    if (speed := _SPEED_RE.search(line)) is not None:
        current["sync_speed"] = int(speed.group(1).replace(",", ""))


def check_supported(proc: ProcDrbd) -> None:
    """Only DRBD 8.4 kernels: DRBD 9 changed the resource model (Ganeti issue #1892). The
    userland may be 9 (drbd-utils hands 8.4 kernels to its drbdsetup-84), only the module counts."""
    if proc.version[:2] != (8, 4):
        raise StorageError(
            f"DRBD kernel module {proc.version_text} is not supported: gnt drives DRBD 8.4 kernels only"
            " (DRBD 9 kernels are not supported yet, Ganeti issue #1892); load DRBD 8.4's module"
        )


@dataclass(frozen=True)
class ShowFacts:
    """The devices and addresses `drbdsetup show MINOR` names (never the secret)."""

    disk: str | None = None
    meta_disk: str | None = None
    local_address: str | None = None
    remote_address: str | None = None
    #: the link was made with --allow-two-primaries (a migration's window)
    two_primaries: bool = False
    #: the disk's resync rate in KiB/s; None when `show` leaves it out (DRBD's own default)
    resync_rate: int | None = None


_SHOW_DISK_RE = re.compile(r'^\s*disk\s+"([^"]+)";', re.M)
_SHOW_META_RE = re.compile(r'^\s*meta-disk\s+"([^"]+)"', re.M)
_SHOW_TWO_PRIMARIES_RE = re.compile(r"^\s*allow-two-primaries\s+yes;", re.M)
_SHOW_RESYNC_RATE_RE = re.compile(r"^\s*resync-rate\s+(\d+)([kKmMgG]?)\s*;", re.M)
_RATE_UNITS_KIB = {"": 1, "k": 1, "m": 1024, "g": 1024 * 1024}  # drbdsetup prints KiB ("61440k")
_SHOW_ADDR_RE = re.compile(r"^\s*(_this_host|_remote_host)\s*\{\s*address\s+(?:ipv4\s+)?([0-9.]+:\d+);", re.M)


def parse_show(text: str) -> ShowFacts:
    addresses = {side: addr for side, addr in _SHOW_ADDR_RE.findall(text)}
    disk = _SHOW_DISK_RE.search(text)
    meta = _SHOW_META_RE.search(text)
    rate = _SHOW_RESYNC_RATE_RE.search(text)
    return ShowFacts(
        disk=disk.group(1) if disk else None,
        meta_disk=meta.group(1) if meta else None,
        local_address=addresses.get("_this_host"),
        remote_address=addresses.get("_remote_host"),
        two_primaries=_SHOW_TWO_PRIMARIES_RE.search(text) is not None,
        resync_rate=int(rate.group(1)) * _RATE_UNITS_KIB[rate.group(2).lower()] if rate else None,
    )


def error_line(stderr: str) -> str:
    """The line of a drbdsetup/drbdmeta error that says why ("State change failed: (-2) Need
    access to UpToDate data", "Failure: (127) Device minor not allocated", ...), without the
    minor prefix and the kernel's "additional info" footer."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "Failure:" in line or "failed:" in line.lower():
            return re.sub(r"^(\d+|\?\?|[\w-]+):\s+", "", line)
    return lines[0] if lines else ""
