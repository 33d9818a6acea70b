"""Value checks that opcode fields declare next to their type (see `gnt.opcodes._f`).

Type hints say *what kind* of value a field holds; these checks say *which* values make sense, so a
vcpus count that no C long holds, a MAC that is not one, or a node name that is a path is refused
when the opcode is built: by the CLI before it submits anything, and by the RAPI before a job
exists. Each check raises `ValueError` with a message naming what is wrong; `opcodes.from_dict`
turns it into `OpPrereqError(wrong_input)` with the field's name.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

from gnt import constants
from gnt.errors import ParameterError
from gnt.tags import syntax as tag_syntax
from gnt.units import MAX_SIZE_MIB, parse_size

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_DISKS",
    "MAX_MEMORY_MIB",
    "MAX_NICS",
    "MAX_VCPUS",
    "Check",
    "beparams",
    "check_scalars",
    "disks",
    "float_range",
    "hostname",
    "hostname_list",
    "int_range",
    "ip_address",
    "is_hostname",
    "mac_prefix",
    "nics",
    "osparams",
    "refused",
    "relative_storage_dir",
    "regexes",
    "tag_list",
    "vg_name",
]

#: every integer a job or the config stores must fit SQLite's and numpy's signed 64-bit integers
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: memory a single instance may ask for (4 PiB); sums over thousands of instances still fit int64
MAX_MEMORY_MIB = 2**32
#: virtual CPUs of one instance (KVM's own ceiling is 1024 to 4096 depending on the kernel)
MAX_VCPUS = 4096
#: as Ganeti: at most 16 disks and 8 NICs per instance
MAX_DISKS, MAX_NICS = 16, 8
#: nested lists/objects deeper than this are not a parameter anyone means to send
MAX_NESTING = 32

Check = Callable[[Any], None]

_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*\Z")
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}\Z")
_MAC_PREFIX_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){2}\Z")
#: Ganeti's tag syntax and limits, declared once in gnt.tags.syntax
_TAG_RE, MAX_TAG_LEN, MAX_TAGS = tag_syntax.TAG_RE, tag_syntax.MAX_TAG_LEN, tag_syntax.MAX_TAGS_PER_OBJ
#: OS parameter names become OSP_<NAME> environment variables of the OS scripts
_OSPARAM_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}\Z")
_DISK_KEYS = frozenset({"size", "mode", "name", "vg", "metavg", "spindles", "adopt", "provider", "access", "uuid"})
_NIC_KEYS = frozenset({"mac", "ip", "mode", "link", "vlan", "name", "network", "uuid"})
_NIC_MODES = ("bridged", "routed", "openvswitch")
#: a link reaches node-side commands (a bridge, a routing table, a switch): a name, never an option or a path
_LINK_RE = re.compile(r"^[A-Za-z0-9_.:@+][A-Za-z0-9_.:@+-]{0,127}\Z")


def is_hostname(value: Any) -> bool:
    """Hostname syntax: dot-separated labels of letters, digits, '-' and '_' (at most 253 chars)."""
    return isinstance(value, str) and len(value) <= 253 and _HOSTNAME_RE.match(value) is not None


def hostname(value: Any) -> None:
    """A node or instance name (None passes: the field is optional)."""
    if value is not None and not is_hostname(value):
        raise ValueError(f"{value!r} is not a valid host name (letters, digits, '-', '_' and dots)")


def hostname_list(value: Any) -> None:
    for item in value or []:
        hostname(item)


def osparams(value: Any) -> None:
    """OS parameters: names that make an environment variable, scalar values without NUL bytes."""
    for name, item in (value or {}).items():
        if not isinstance(name, str) or not _OSPARAM_NAME_RE.match(name):
            raise ValueError(f"{name!r} is not a valid OS parameter name (a letter, then letters, digits, '_', '-')")
        if isinstance(item, (dict, list)) or (isinstance(item, str) and "\0" in item):
            raise ValueError(f"OS parameter {name}: {item!r} is not a valid value (a string without NUL, or a number)")


def tag_list(value: Any) -> None:
    """Tags as Ganeti allows them: at most 4096, each 1-128 of letters, digits and . + * / : @ - _."""
    if len(value or []) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags, not {len(value)}")
    for tag in value or []:
        if not isinstance(tag, str) or len(tag) > MAX_TAG_LEN or not _TAG_RE.match(tag):
            raise ValueError(
                f"{tag!r} is not a valid tag (1 to {MAX_TAG_LEN} letters, digits and '.', '+', '*', '/', ':', '@',"
                " '-', '_')"
            )


def ip_address(value: Any) -> None:
    """An IPv4 or IPv6 address (None passes)."""
    if value is None:
        return
    try:
        ipaddress.ip_address(value)
    except ValueError as err:
        raise ValueError(f"{value!r} is not an IP address") from err


def int_range(low: int, high: int) -> Check:
    """An integer (or None) within [low, high]."""

    def check(value: Any) -> None:
        if value is not None and not low <= value <= high:
            raise ValueError(f"{value} is out of range ({low}..{high})")

    return check


def float_range(low: float, high: float) -> Check:
    """A finite number (or None) within [low, high]."""

    def check(value: Any) -> None:
        if value is None:
            return
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"{value} is out of range ({low:g}..{high:g})")

    return check


def refused(reason: str) -> Check:
    """A Ganeti field gnt does not implement: refuse it rather than silently ignore it."""

    def check(value: Any) -> None:
        if value is not None:
            raise ValueError(reason)

    return check


#: one component of a file storage subdirectory: no "." or ".." (checked apart), no separators or oddities
_STORAGE_DIR_PART_RE = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,127}\Z")


def relative_storage_dir(value: Any) -> None:
    """`--file-storage-dir`: a directory *under* the cluster's (shared) file storage directory, so a
    relative path, normalised (`a/b`, not `a//b/`, `./a` or `a/../b`), without `..`; None passes."""
    if value is None:
        return
    if not isinstance(value, str) or not value:
        raise ValueError("the file storage directory must be a non-empty relative path (e.g. sub/dir)")
    if value.startswith("/"):
        raise ValueError(
            f"the file storage directory {value!r} must be relative to the cluster's file storage directory"
        )
    parts = value.split("/")
    if ".." in parts:
        raise ValueError(f"the file storage directory {value!r} must not contain '..' (it stays under the cluster's)")
    if len(value) > 1024 or not all(_STORAGE_DIR_PART_RE.match(p) for p in parts):
        raise ValueError(
            f"the file storage directory {value!r} is not a normalised relative path"
            " (components of letters, digits and '_.+-', separated by single '/')"
        )


def one_of(choices: tuple[str, ...]) -> Check:
    """One of a fixed set of words (a reboot type): refused at submission, as the CLI's choice refuses it."""

    def check(value: Any) -> None:
        if value not in choices:
            raise ValueError(f"{str(value)[:80]!r} is not one of {', '.join(choices)}")

    return check


def mac_prefix(value: Any) -> None:
    if value is not None and not (isinstance(value, str) and _MAC_PREFIX_RE.match(value)):
        raise ValueError(f"{value!r} is not a MAC prefix (three hex octets, e.g. aa:00:00)")


def regexes(value: Any) -> None:
    """Each entry compiles as a Python regular expression (reserved LVs)."""
    for pattern in value or []:
        if not isinstance(pattern, str):
            raise ValueError(f"{pattern!r} is not a regular expression")
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"invalid regular expression {pattern!r}: {err}") from None


def diskparams(value: Any) -> None:
    """Disk parameters per template (`-D drbd:resync-rate=N`): only those gnt.drbd declares."""
    from gnt.drbd import DISK_PARAMS

    known = {"drbd": DISK_PARAMS}
    for template, params in (value or {}).items():
        if template not in known:
            raise ValueError(f"no disk parameters for disk template {template!r} (known: {', '.join(known)})")
        if not isinstance(params, dict):
            raise ValueError(f"disk parameters of {template} must be key=value pairs, not {params!r}")
        for key, item in params.items():
            if key not in known[template]:
                raise ValueError(
                    f"unknown {template} disk parameter {key!r} (known: {', '.join(sorted(known[template]))})"
                )
            low, high = known[template][key]
            if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
                raise ValueError(f"{template} disk parameter {key} must be an integer from {low} to {high}: {item!r}")


def drbd_helper(value: Any) -> None:
    """The DRBD module's usermode helper: an absolute path without spaces, or "" (no check)."""
    if value is None or value == "":
        return
    if not isinstance(value, str) or not value.startswith("/") or any(c.isspace() or c == "\0" for c in value):
        raise ValueError(f"drbd usermode helper must be an absolute path (or empty), not {value!r}")


def vg_name(value: Any) -> None:
    """An LVM volume group name LVM accepts and that is no command-line option (gnt.confine's rule)."""
    from gnt.confine import lvm_name_problem

    problem = None if value is None else lvm_name_problem(value, "volume group")
    if problem:
        raise ValueError(problem)


def _size(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{what}: {value} is not a size")
        try:
            size = parse_size(value, what)
        except ParameterError as err:
            raise ValueError(str(err)) from err
        if not low <= size <= high:
            raise ValueError(f"{what}: {size} MiB is out of range ({low}..{high} MiB)")
        return size
    raise ValueError(f"{what}: {value!r} is not a size")


def _int_param(value: Any, what: str, low: int, high: int) -> None:
    if isinstance(value, bool):
        raise ValueError(f"{what}: {value!r} is not an integer")
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{1,20}", value):
            raise ValueError(f"{what}: {value!r} is not an integer")
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(f"{what}: {value!r} is not an integer")
    if not low <= value <= high:
        raise ValueError(f"{what}: {value} is out of range ({low}..{high})")


def beparams(value: Any) -> None:
    """Backend parameters: sizes and counts within what the allocator and the config can hold.

    Zero passes here: "must be positive" is the logical unit's Ganeti-shaped error (a job error).
    """
    for key, item in (value or {}).items():
        if key in constants.BE_SIZE_PARAMS:
            _size(item, key, 0, MAX_MEMORY_MIB)
        elif key == "vcpus":
            _int_param(item, key, 0, MAX_VCPUS)
        elif key in constants.BE_INT_PARAMS:
            _int_param(item, key, 0, 2**31 - 1)


def _specs(
    value: Any, what: str, plural: str, limit: int, keys: frozenset[str] | set[str]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, spec) of a list of disk or NIC specifications: at most `limit`, objects, known keys only."""
    if len(value) > limit:
        raise ValueError(f"{len(value)} {plural} given; at most {limit} are allowed")
    for index, spec in enumerate(value):
        if not isinstance(spec, dict):
            raise ValueError(f"{what} {index}: expected an object, got {spec!r}")
        unknown = sorted(set(spec) - keys)
        if unknown:
            raise ValueError(f"{what} {index}: unknown parameter '{unknown[0]}'")
        yield index, spec


def disks(value: Any) -> None:
    """Disk specifications: a size in range, a known access mode, no unknown keys."""
    for index, disk in _specs(value, "disk", "disks", MAX_DISKS, _DISK_KEYS):
        if "size" in disk:
            _size(disk["size"], f"disk/{index} size", 0, MAX_SIZE_MIB)
        if disk.get("mode", "rw") not in ("rw", "ro"):
            raise ValueError(f"disk {index}: access mode must be 'rw' or 'ro', not {disk.get('mode')!r}")
        if "spindles" in disk and disk["spindles"] is not None:
            _int_param(disk["spindles"], f"disk/{index} spindles", 0, 2**31 - 1)
        adopt = disk.get("adopt")
        if adopt is not None and (not isinstance(adopt, str) or not adopt or "\0" in adopt):
            raise ValueError(f"disk {index}: adopt must name an LV or a device path, not {adopt!r}")


def _nic_ip(index: int, ip: Any) -> None:
    if ip is None or (isinstance(ip, str) and ip.lower() in ("none", "pool", "")):
        return
    try:
        ipaddress.ip_address(ip)
    except ValueError as err:
        raise ValueError(f"nic {index}: {ip!r} is not an IP address") from err


def nics(value: Any) -> None:
    """NIC specifications: a MAC that is one (or auto/generate), an IP, a known mode."""
    for index, nic in _specs(value, "nic", "NICs", MAX_NICS, _NIC_KEYS):
        mac = nic.get("mac")
        if mac is not None and mac not in ("auto", "generate") and not (isinstance(mac, str) and _MAC_RE.match(mac)):
            raise ValueError(f"nic {index}: {mac!r} is not a MAC address (aa:00:00:xx:xx:xx, auto or generate)")
        _nic_ip(index, nic.get("ip"))
        mode = nic.get("mode")
        if mode is not None and mode not in _NIC_MODES:
            raise ValueError(f"nic {index}: mode must be one of {', '.join(_NIC_MODES)}, not {mode!r}")
        for key in ("link", "vlan", "name", "network"):
            if nic.get(key) is not None and not isinstance(nic[key], str):
                raise ValueError(f"nic {index}: {key} must be a string, not {nic[key]!r}")
            if isinstance(nic.get(key), str) and any(c.isspace() or not c.isprintable() for c in nic[key]):
                raise ValueError(f"nic {index}: {key} {nic[key]!r} holds whitespace or control characters")
        if nic.get("link") is not None:
            try:
                nic_link(nic["link"])
            except ValueError as err:
                raise ValueError(f"nic {index}: {err}") from None


def nic_link(value: Any) -> None:
    """A NIC link (bridge, routing table or switch name): no path, no option, no whitespace.

    Empty is allowed: a routed NIC without a link uses the main routing table.
    """
    if value == "":
        return
    if not isinstance(value, str) or not _LINK_RE.match(value) or value in (".", ".."):
        raise ValueError(
            f"Invalid NIC link {str(value)[:40]!r}: 1 to 128 letters, digits and '_.:@+-', not starting with '-'"
        )


def nic_vlan(value: Any) -> None:
    """Ganeti's vlan syntax: '', '.N' (untagged) or ':N[:M...]' (trunk), N in 0..4095."""
    if not isinstance(value, str):
        raise ValueError(f"Invalid VLAN {value!r}: expected a string")
    if not value:
        return
    body = value[1:] if value[0] in ".:" else value
    parts = body.split(":")
    if not all(p.isascii() and p.isdigit() and int(p) <= 4095 for p in parts) or (value[0] == "." and len(parts) > 1):
        raise ValueError(f"Invalid VLAN {value[:40]!r}: expected .N, :N[:M...] or N with N in 0..4095")


def nicparams(value: Any) -> None:
    """Default NIC parameters (`gnt-cluster init/modify -N`): known keys, a known mode, a link that is a name.

    Every NIC without its own value takes these, so a bad one would reach every instance's next start.
    """
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValueError(f"expected an object of NIC parameters, got {value!r}")
    unknown = sorted(set(value) - set(constants.NIC_DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown NIC parameter(s): {', '.join(unknown)} (known: mode, link, vlan)")
    if "mode" in value and value["mode"] not in _NIC_MODES:
        raise ValueError(f"Invalid NIC mode {value['mode']!r}; expected one of {', '.join(_NIC_MODES)}")
    if "link" in value:
        nic_link(value["link"])
    if "vlan" in value:
        nic_vlan(value["vlan"])


def check_scalars(value: Any, depth: int = 0) -> None:
    """Every number anywhere in an opcode fits int64 and is finite; nesting stays shallow."""
    if depth > MAX_NESTING:
        raise ValueError(f"nested deeper than {MAX_NESTING} levels")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"{value} does not fit a 64-bit integer")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
    elif isinstance(value, dict):
        for item in value.values():
            check_scalars(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_scalars(item, depth + 1)
