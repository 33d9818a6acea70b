"""An export's `config.ini`, in Ganeti's layout, written on export and read back on import.

Sections as Ganeti writes them: `[export]` (version, timestamp, source node, os, compression),
`[instance]` (name, memory, vcpus, disk template, hypervisor, tags, nic%d_*, disk%d_* with the dump
file of each disk), then the instance's own parameters in `[hypervisor]`, `[backend]` and `[os]`.
gnt has no private or secret OS parameters yet (Ganeti's `[os_private]`); when it gets them they
belong outside this file. Pure functions, so the format is tested without a cluster.
"""

from __future__ import annotations

import configparser
import io
import json
import time
from dataclasses import dataclass, field
from typing import Any

from gnt.errors import ECODE_INVAL, OpPrereqError
from gnt.objects import Instance

EXPORT_VERSION = 0
SEC_EXPORT, SEC_INSTANCE, SEC_HV, SEC_BE, SEC_OS = "export", "instance", "hypervisor", "backend", "os"
#: Ganeti's INISECT_OSP_PRIVATE: the private OS parameters travel with the export (a 0600 file in a
#: 0700 directory of a node, like the config) so that an imported instance can be reinstalled
SEC_OS_PRIVATE = "os_private"


def dump_name(index: int) -> str:
    """The file holding disk `index`'s data in the export directory."""
    return f"disk{index}.dump"


def _text(value: Any) -> str:
    """Scalars as Ganeti writes them (str() of a bool is True/False); others as JSON."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float, bool)):
        return str(value)
    return json.dumps(value)


def export_config(inst: Instance, source: str, compression: str, now: float | None = None) -> str:
    """The config.ini text of an export of `inst` made from node `source`."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.optionxform = str  # type: ignore[assignment,method-assign] - keep keys' case
    cfg[SEC_EXPORT] = {
        "version": str(EXPORT_VERSION),
        "timestamp": str(int(now if now is not None else time.time())),
        "source": source,
        "os": inst.os,
        "compression": compression,
    }
    be = inst.beparams
    section: dict[str, str] = {
        "name": inst.name,
        "maxmem": _text(be.get("maxmem", be.get("memory", ""))),
        "minmem": _text(be.get("minmem", be.get("memory", ""))),
        "memory": _text(be.get("maxmem", be.get("memory", ""))),
        "vcpus": _text(be.get("vcpus", "")),
        "disk_template": inst.disk_template,
        "hypervisor": inst.hypervisor,
        "tags": " ".join(getattr(inst, "tags", []) or []),
        "nic_count": str(len(inst.nics)),
    }
    for i, nic in enumerate(inst.nics):
        params = nic.nicparams or {}
        section.update(
            {
                f"nic{i}_mac": nic.mac,
                f"nic{i}_ip": _text(nic.ip),
                f"nic{i}_mode": _text(params.get("mode")),
                f"nic{i}_link": _text(params.get("link")),
                f"nic{i}_vlan": _text(params.get("vlan")),
                f"nic{i}_network": _text(nic.network),
                f"nic{i}_name": _text(nic.name),
            }
        )
    section["disk_count"] = str(len(inst.disks))
    for i, disk in enumerate(inst.disks):
        section.update(
            {
                f"disk{i}_ivname": f"disk/{i}",
                f"disk{i}_dump": dump_name(i),
                f"disk{i}_size": str(disk.size),
                f"disk{i}_mode": disk.mode,
                f"disk{i}_name": _text(disk.name),
            }
        )
    cfg[SEC_INSTANCE] = section
    cfg[SEC_HV] = {k: _text(v) for k, v in sorted(inst.hvparams.items())}
    cfg[SEC_BE] = {k: _text(v) for k, v in sorted(inst.beparams.items())}
    cfg[SEC_OS] = {k: _text(v) for k, v in sorted(inst.osparams.items())}
    cfg[SEC_OS_PRIVATE] = {k: _text(v) for k, v in sorted(inst.osparams_private.items())}
    out = io.StringIO()
    cfg.write(out)
    return out.getvalue()


@dataclass
class ExportInfo:
    """What an import needs from an export's config.ini."""

    name: str
    os: str
    disk_template: str
    hypervisor: str
    #: [{size, mode, name?}] with the dump file of each, in disk order
    disks: list[dict[str, Any]] = field(default_factory=list)
    dumps: list[str] = field(default_factory=list)
    nics: list[dict[str, Any]] = field(default_factory=list)
    beparams: dict[str, str] = field(default_factory=dict)
    hvparams: dict[str, str] = field(default_factory=dict)
    osparams: dict[str, str] = field(default_factory=dict)
    osparams_private: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


def _bad(message: str) -> OpPrereqError:
    return OpPrereqError(f"Invalid export configuration: {message}", ECODE_INVAL)


def _int(section: configparser.SectionProxy, key: str) -> int:
    try:
        return int(section.get(key, ""))
    except ValueError:
        raise _bad(f"{key} is not a number") from None


def read_export(text: str) -> ExportInfo:
    """Parse config.ini; a malformed one is a clear OpPrereqError, never a traceback."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        cfg.read_string(text)
    except configparser.Error as err:
        raise _bad(str(err).splitlines()[0]) from None
    for needed in (SEC_EXPORT, SEC_INSTANCE):
        if not cfg.has_section(needed):
            raise _bad(f"no [{needed}] section")
    exp, ins = cfg[SEC_EXPORT], cfg[SEC_INSTANCE]
    if exp.get("version") != str(EXPORT_VERSION):
        raise _bad(f"unsupported export version {exp.get('version')!r}")
    info = ExportInfo(
        name=ins.get("name", ""),
        os=exp.get("os", ""),
        disk_template=ins.get("disk_template", ""),
        hypervisor=ins.get("hypervisor", ""),
        tags=ins.get("tags", "").split(),
    )
    for i in range(_int(ins, "disk_count")):
        if f"disk{i}_size" not in ins:
            raise _bad(f"disk {i} has no size")
        disk: dict[str, Any] = {"size": _int(ins, f"disk{i}_size"), "mode": ins.get(f"disk{i}_mode", "rw")}
        if ins.get(f"disk{i}_name"):
            disk["name"] = ins[f"disk{i}_name"]
        info.disks.append(disk)
        info.dumps.append(ins.get(f"disk{i}_dump", dump_name(i)))
    for i in range(_int(ins, "nic_count")):
        nic = {"mac": ins.get(f"nic{i}_mac", "")}
        for key in ("ip", "mode", "link", "vlan", "network", "name"):
            if ins.get(f"nic{i}_{key}"):
                nic[key] = ins[f"nic{i}_{key}"]
        info.nics.append(nic)
    sections = ((SEC_HV, info.hvparams), (SEC_BE, info.beparams), (SEC_OS, info.osparams))
    for name, target in (*sections, (SEC_OS_PRIVATE, info.osparams_private)):
        if cfg.has_section(name):
            target.update(dict(cfg[name]))
    return info
