"""Facts: what `vgs`, `lvs` and `pvs` report, parsed into records (pure functions).

Every report is asked for in one machine-readable shape (`REPORT_OPTIONS`: no headings, sizes in
MiB without a unit suffix, fields joined by `|`), so a parser only splits lines. LVM prints each
row indented by two spaces and, with `--units m`, sizes such as `64.00` (lower-case units are
binary: MiB). The commands that ask for these reports are built in `storage.lvm.commands`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from gnt.errors import StorageError

SEPARATOR = "|"
#: the options every report command gets (lvmreport(7)); LC_ALL=C keeps the decimal point a '.'
REPORT_OPTIONS = ("--noheadings", "--units", "m", "--nosuffix", "--separator", SEPARATOR)
VG_FIELDS = ("vg_name", "vg_size", "vg_free", "vg_extent_size", "lv_count", "pv_count")
LV_FIELDS = ("vg_name", "lv_name", "lv_size", "lv_attr", "origin")
#: `devices` is a segment field: lvs prints one row per segment of each LV
VOLUME_FIELDS = ("vg_name", "lv_name", "lv_size", "devices")
PV_FIELDS = ("pv_name", "vg_name", "pv_size", "pv_free", "pv_attr")


@dataclass(frozen=True)
class VgFacts:
    """One volume group as `vgs` reports it (sizes in MiB)."""

    name: str
    size: int
    free: int
    extent_size: int
    lv_count: int
    pv_count: int


@dataclass(frozen=True)
class LvFacts:
    """One logical volume as `lvs` reports it."""

    vg: str
    name: str
    size: int  # MiB
    attr: str
    origin: str = ""

    @property
    def active(self) -> bool:
        """lv_attr's 5th character is the state; 'a' is active (lvs(8))."""
        return len(self.attr) > 4 and self.attr[4] == "a"

    @property
    def is_open(self) -> bool:
        """lv_attr's 6th character: 'o' when something (a guest) holds the device open."""
        return len(self.attr) > 5 and self.attr[5] == "o"

    @property
    def is_snapshot(self) -> bool:
        return self.attr[:1] in ("s", "S")


@dataclass(frozen=True)
class VolumeFacts:
    """One LV with the physical volumes it lies on (`gnt-node volumes`)."""

    vg: str
    name: str
    size: int  # MiB
    devices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PvFacts:
    """One physical volume as `pvs` reports it."""

    name: str
    vg: str
    size: int  # MiB
    free: int  # MiB
    attr: str

    @property
    def allocatable(self) -> bool:
        """pv_attr's first character is 'a' when new extents may be allocated on it."""
        return self.attr[:1] == "a"


def mib(text: str, what: str = "size") -> int:
    """A `--units m --nosuffix` size ("64.00") as whole MiB, rounded down (free space is never
    overstated)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise StorageError(f"LVM reported an unreadable {what}: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise StorageError(f"LVM reported an unreadable {what}: {text!r}")
    return int(value)


def _rows(output: str, fields: tuple[str, ...], command: str) -> list[list[str]]:
    rows = []
    for line in output.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.strip().split(SEPARATOR)]
        if len(parts) != len(fields):
            raise StorageError(
                f"{command} printed {len(parts)} fields where {len(fields)} were asked for ({','.join(fields)}):"
                f" {line.strip()!r}"
            )
        rows.append(parts)
    return rows


def parse_vgs(output: str) -> list[VgFacts]:
    return [
        VgFacts(name, mib(size), mib(free), mib(extent), int(lvs), int(pvs))
        for name, size, free, extent, lvs, pvs in _rows(output, VG_FIELDS, "vgs")
    ]


def parse_lvs(output: str) -> list[LvFacts]:
    rows = _rows(output, LV_FIELDS, "lvs")
    return [LvFacts(vg, name, mib(size), attr, origin) for vg, name, size, attr, origin in rows]


def parse_volumes(output: str) -> list[VolumeFacts]:
    """Rows of `lvs -o vg_name,lv_name,lv_size,devices`, one per LV: segments are merged and the
    extent ranges dropped (`/dev/vdb(0),/dev/vdc(12)` → `/dev/vdb`, `/dev/vdc`)."""
    merged: dict[tuple[str, str], VolumeFacts] = {}
    for vg, name, size, devices in _rows(output, VOLUME_FIELDS, "lvs"):
        entry = merged.setdefault((vg, name), VolumeFacts(vg, name, mib(size)))
        for device in devices.split(","):
            path = device.split("(", 1)[0].strip()
            if path and path not in entry.devices:
                entry.devices.append(path)
    return list(merged.values())


def parse_pvs(output: str) -> list[PvFacts]:
    return [
        PvFacts(name, vg, mib(size), mib(free), attr) for name, vg, size, free, attr in _rows(output, PV_FIELDS, "pvs")
    ]


def error_line(stderr: str) -> str:
    """The line of an LVM tool's stderr that says what went wrong: the last one that is not a
    warning (LVM warns about leaked file descriptors, udev and the like before its real error)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith("WARNING")]
    return (errors or lines or [""])[-1]
