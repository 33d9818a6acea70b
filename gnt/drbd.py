"""What one node needs to know about one drbd disk, shared by the master (which builds it from
the config) and the node (which checks it before any command runs).

A drbd disk lives on two nodes. The config keeps it once (`Disk.logical_id` is Ganeti's
`[primary uuid, secondary uuid, port, primary minor, secondary minor]`, the two LVs and the shared
secret in `Disk.params`); each node is sent its own view of it, a `DrbdView` in the disk spec's
`params["drbd"]`: its own minor and address, the peer's, and whether it should be primary. The
node trusts the caller's certificate, never these values, so `DrbdView.parse` refuses anything
that is not a minor, a port, an IP address, a safe LV name or a plain alphanumeric secret before
it can reach an argv.

The secret travels in RPC bodies (drbdsetup needs it on the host's command line) but never in
logs, job bodies or query output: `DrbdView.__repr__` hides it, and the query code shows
logical_id, not params.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from gnt.errors import RpcArgumentError

#: the metadata LV of every drbd disk, as Ganeti makes it (room for a 4 TiB data volume's bitmap)
META_SIZE = 128
#: the cluster's port pool for drbd links when none is configured (Ganeti's default range)
DEFAULT_PORT_RANGE = (11000, 14999)
#: DRBD 8.4 minors run up to 2**20 - 1
MAX_MINOR = (1 << 20) - 1
#: kernel DRBD's SHARED_SECRET_MAX is 64 bytes; Ganeti's secrets are 40 hex digits
SECRET_LENGTH = 40
_SECRET_RE = re.compile(r"^[A-Za-z0-9]{1,64}\Z")
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: a dotted quad exactly as str(ipaddress.IPv4Address(...)) writes it (no leading zeros, no spaces)
_IPV4_RE = re.compile(rf"^{_OCTET}(\.{_OCTET}){{3}}\Z")
#: what drbdsetup is told to authenticate peers with (Ganeti's default drbd net hmac)
HMAC_ALG = "md5"
#: Ganeti's default resync rate, KiB/s (--resync-rate with no unit)
DEFAULT_RESYNC_RATE = 61440
PARAMS_KEY = "drbd"
#: the drbd disk parameters `-D drbd:KEY=VALUE` sets (Ganeti's names), with their allowed range
DISK_PARAMS: dict[str, tuple[int, int]] = {"resync-rate": (1, 10 * 1024 * 1024)}
#: where a disk spec carries the cluster's resync rate to node_spec (the master fills it in)
RESYNC_RATE_KEY = "resync_rate"


def new_secret() -> str:
    """A fresh per-disk shared secret (hex, so it is safe in an argv and in drbd.conf syntax)."""
    return secrets.token_hex(SECRET_LENGTH // 2)


#: what a secret is replaced with where a disk spec is kept on disk (pending cleanups): the view
#: stays valid for `remove`, which never uses the secret
REDACTED_SECRET = "redacted"


def without_secret(params: dict[str, Any]) -> dict[str, Any]:
    """A disk spec's params with the drbd view's secret replaced (a copy; others unchanged)."""
    view = params.get(PARAMS_KEY)
    if not isinstance(view, dict) or "secret" not in view:
        return params
    return {**params, PARAMS_KEY: {**view, "secret": REDACTED_SECRET}}


def resource_name(minor: int) -> str:
    """DRBD 8.4 resources are named after their (only) minor, as Ganeti names them."""
    return f"resource{minor}"


def device_path(minor: int) -> str:
    return f"/dev/drbd{minor}"


def _refuse(what: str, problem: str) -> RpcArgumentError:
    return RpcArgumentError(f"{what}: {problem}")


def _int(data: dict[str, Any], key: str, low: int, high: int, what: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _refuse(what, f"{key} must be an integer from {low} to {high}, not {value!r}")
    return value


def _ip(data: dict[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if isinstance(value, str) and _IPV4_RE.match(value):
        return value  # already in the form ipaddress writes (a node checks two per disk of a call)
    try:
        return str(ipaddress.IPv4Address(value))  # type: ignore[arg-type]
    except (ipaddress.AddressValueError, ValueError, TypeError):
        raise _refuse(what, f"{key} must be an IPv4 address, not {value!r}") from None


def _lv(data: dict[str, Any], key: str, what: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value):
        raise _refuse(what, f"{key} must be [volume group, logical volume], not {value!r}")
    return list(value)


@dataclass(frozen=True)
class DrbdView:
    """One node's side of one drbd disk."""

    minor: int
    port: int
    local_ip: str
    remote_ip: str
    remote_minor: int
    data: list[str]  # [vg, lv]
    meta: list[str]  # [vg, lv]
    secret: str = field(repr=False)
    primary: bool = False
    resync_rate: int = DEFAULT_RESYNC_RATE
    #: the master's word that the peer cannot be reached (a forced start with a dead secondary):
    #: the primary side is promoted without waiting for, or seeing, its peer
    peer_down: bool = False

    def __repr__(self) -> str:  # the dataclass repr would show the secret
        return f"DrbdView(minor={self.minor}, port={self.port}, local={self.local_ip}, remote={self.remote_ip})"

    @property
    def resource(self) -> str:
        return resource_name(self.minor)

    @property
    def device(self) -> str:
        return device_path(self.minor)

    def to_params(self) -> dict[str, Any]:
        return {
            "minor": self.minor,
            "port": self.port,
            "local_ip": self.local_ip,
            "remote_ip": self.remote_ip,
            "remote_minor": self.remote_minor,
            "data": list(self.data),
            "meta": list(self.meta),
            "secret": self.secret,
            "primary": self.primary,
            "resync_rate": self.resync_rate,
            "peer_down": self.peer_down,
        }

    @classmethod
    def parse(cls, params: object, what: str) -> DrbdView:
        """The view in a disk spec's params, every value checked (RpcArgumentError otherwise)."""
        data = params.get(PARAMS_KEY) if isinstance(params, dict) else None
        if not isinstance(data, dict):
            raise _refuse(what, "a drbd disk needs its node's view in params['drbd']")
        secret = data.get("secret")
        if not isinstance(secret, str) or not _SECRET_RE.match(secret):
            raise _refuse(what, "the shared secret must be 1 to 64 letters or digits")  # never echo it
        primary, peer_down = data.get("primary", False), data.get("peer_down", False)
        for key, flag in (("primary", primary), ("peer_down", peer_down)):
            if not isinstance(flag, bool):
                raise _refuse(what, f"{key} must be true or false, not {flag!r}")
        local_ip, remote_ip = _ip(data, "local_ip", what), _ip(data, "remote_ip", what)
        if local_ip == remote_ip:
            raise _refuse(what, f"local and remote address are the same ({local_ip})")
        return cls(
            minor=_int(data, "minor", 0, MAX_MINOR, what),
            port=_int(data, "port", 1, 65535, what),
            local_ip=local_ip,
            remote_ip=remote_ip,
            remote_minor=_int(data, "remote_minor", 0, MAX_MINOR, what),
            data=_lv(data, "data", what),
            meta=_lv(data, "meta", what),
            secret=secret,
            primary=primary,
            resync_rate=_int(data, "resync_rate", 1, 10 * 1024 * 1024, what),
            peer_down=peer_down,
        )
