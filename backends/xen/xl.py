"""xl's command lines and the parsing of what it prints: pure functions, golden- and unit-tested.

Only xl is driven (xm left Xen in 4.5). Every command is an argv list; the driver runs them
without a shell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gnt.errors import HypervisorError
from gnt.runtime import RunState

__all__ = [
    "XlDomain",
    "DOM0",
    "commands",
    "domain_state",
    "memory_accounting",
    "parse_info",
    "parse_list",
]

XL = "xl"
DOM0 = "Domain-0"
#: socat's buffer for the migration stream (the default 8 KiB makes many small writes)
SOCAT_BUFFER = 524288
#: seconds the source's end of the migration stream waits for the target to acknowledge data (or
#: answer a keepalive) before it gives up: without it a target that lost power leaves `xl migrate`
#: retransmitting for TCP's 15 minutes; with it xl sees the stream break and resumes the guest here
STREAM_TIMEOUT = 30
#: TCP_USER_TIMEOUT (linux/tcp.h) at IPPROTO_TCP (6); socat has no name for it
_TCP_USER_TIMEOUT = "6:18"
#: xl names a domain this way while it arrives, and the source copy once it has gone
INCOMING, MIGRATED_AWAY = "--incoming", "--migratedaway"

#: libxl's shutdown reason codes as `xl list -v` prints them (hex)
REASON_POWEROFF, REASON_REBOOT, REASON_SUSPEND, REASON_CRASH, REASON_WATCHDOG = 0, 1, 2, 3, 4


def _tcp(address: str) -> str:
    return "TCP6" if ":" in address else "TCP"


def _stream_options() -> str:
    """socat's options for the source's connection: keepalive (the target may go silent while it
    builds the domain) and a limit on unacknowledged data, both ending at STREAM_TIMEOUT."""
    return (
        f"keepalive,keepidle={STREAM_TIMEOUT // 3},keepintvl={STREAM_TIMEOUT // 6},keepcnt=3,"
        f"setsockopt-int={_TCP_USER_TIMEOUT}:{STREAM_TIMEOUT * 1000}"
    )


def commands(name: str, config_path: str, hvm: bool, target: str = "", port: int = 0) -> dict[str, list[str]]:
    """Every xl command the driver runs for one domain, by purpose (golden-tested as a table).

    HVM guests get `-F` on shutdown and reboot: without PV drivers in the guest xl would refuse,
    and -F falls back to the ACPI power button / reset.

    Migration goes over a plain TCP connection to the target's `migration_port`, as Ganeti's
    non-ssh mode does: the target listens with socat and hands the one connection to `xl
    migrate-receive`; the source's `xl migrate -s ""` runs its "host" argument as the transport
    command (socat to that port) instead of `ssh HOST xl migrate-receive`. No ssh: under TCG an
    ssh stream into a PV dom0 moved about 10 kB/s, and the stream needs no ssh key between dom0s.
    """
    fallback = ["-F"] if hvm else []
    result = {
        "create": [XL, "create", config_path],
        "create_paused": [XL, "create", "-p", config_path],
        "unpause": [XL, "unpause", name],
        "pause": [XL, "pause", name],
        "shutdown": [XL, "shutdown", *fallback, name],
        # the same, waiting for Xen's shutdown event (a preserved poweroff counts) instead of polling
        "shutdown_wait": [XL, "shutdown", "-w", *fallback, name],
        "reboot": [XL, "reboot", *fallback, name],
        "destroy": [XL, "destroy", name],
        "console": [XL, "console", name],
        "list": [XL, "list", "-v"],
        "info": [XL, "info"],
        # non-live migration (backends/xen/saverestore.py): the image goes through a pipe; -p keeps
        # the source copy paused (not destroyed) until the target has the guest; restore takes the
        # target's own config (its disk paths), not the one inside the image
        "save": [XL, "save", "-p", name, "/dev/stdout"],
        "restore": [XL, "restore", config_path, "/dev/stdin"],
    }
    if target and port:
        tcp = _tcp(target)
        address = f"[{target}]" if tcp == "TCP6" else target
        result["migrate"] = [
            XL,
            "migrate",
            "-s",
            "",
            "-C",
            config_path,
            name,
            f"exec socat -b{SOCAT_BUFFER} - {tcp}:{address}:{port},{_stream_options()}",
        ]
        result["receive"] = [
            "socat",
            f"-b{SOCAT_BUFFER}",
            f"{tcp}-LISTEN:{port},bind={target},reuseaddr",
            f"EXEC:{XL} migrate-receive",
        ]
    return result


@dataclass
class XlDomain:
    """One line of `xl list -v`."""

    name: str
    domid: int
    memory: int  # MiB
    vcpus: int
    flags: str  # rbpscd, "-" where unset
    cpu_time: float
    uuid: str = ""
    reason: int | None = None  # shutdown reason code, None while not shut down


def parse_list(text: str) -> list[XlDomain]:
    """`xl list` or `xl list -v` output -> domains (header and blank lines skipped)."""
    domains = []
    for line in text.splitlines():
        tokens = line.split()
        if not tokens or tokens[0] == "Name":
            continue
        if len(tokens) < 6:
            raise HypervisorError(f"cannot read this xl list line: {line!r}")
        try:
            domain = XlDomain(
                name=tokens[0],
                domid=int(tokens[1]),
                memory=int(tokens[2]),
                vcpus=int(tokens[3]),
                flags=tokens[4],
                cpu_time=float(tokens[5]),
            )
            if len(tokens) > 6:
                domain.uuid = tokens[6]
            if len(tokens) > 7 and tokens[7] != "-":
                domain.reason = int(tokens[7], 16)
        except ValueError:
            raise HypervisorError(f"cannot read this xl list line: {line!r}") from None
        domains.append(domain)
    return domains


def domain_state(domain: XlDomain) -> RunState:
    """What gnt calls the domain's state.

    A domain the guest powered off is kept ("s", reason poweroff: on_poweroff=preserve), a crashed
    one too ("c" or reason crash/watchdog); "s" for a reboot is the moment before xl restarts it.
    """
    flags = domain.flags
    if "c" in flags or domain.reason in (REASON_CRASH, REASON_WATCHDOG):
        return RunState.CRASHED
    if "s" in flags or "d" in flags:
        if domain.reason == REASON_REBOOT:
            return RunState.RUNNING
        return RunState.SHUTDOWN
    if "p" in flags:
        return RunState.PAUSED
    return RunState.RUNNING


def parse_info(text: str) -> dict[str, str]:
    """`xl info` -> {key: value} (values kept as text; a continued line is joined to its key)."""
    info: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith(" "):
            last = key.strip()
            info[last] = value.strip()
        elif last and line.strip():
            info[last] += " " + line.strip()
    return info


def _int(info: dict[str, str], key: str) -> int:
    try:
        return int(info[key])
    except (KeyError, ValueError):
        raise HypervisorError(f"xl info has no usable {key} ({info.get(key)!r})") from None


def _opt(info: dict[str, str], key: str) -> int:
    """A count xl info may leave out; 1 then."""
    value = info.get(key, "1")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def memory_accounting(info: dict[str, str], domains: list[XlDomain]) -> dict[str, Any]:
    """Node memory as gnt reports it, from `xl info` and `xl list`.

    `total_memory` is the machine's; `free_memory` is what Xen has not given to any domain (what a
    new guest can get: dom0 does not balloon down here); dom0's share is its own allocation (from
    its `xl list` line), not "total minus free", which would count the guests as dom0's.
    """
    total, free, cpus = _int(info, "total_memory"), _int(info, "free_memory"), _int(info, "nr_cpus")
    dom0 = next((d.memory for d in domains if d.domid == 0), 0)
    guests = sum(d.memory for d in domains if d.domid != 0)
    version = info.get("xen_version", "")
    caps = info.get("virt_caps", "")
    return {
        "memory_total": total,
        "memory_free": free,
        "memory_dom0": dom0,
        "memory_instances": guests,
        "cpu_total": cpus,
        "cpu_nodes": _opt(info, "nr_nodes"),
        "cpu_sockets": max(
            1, _int(info, "nr_cpus") // (_opt(info, "cores_per_socket") * _opt(info, "threads_per_core"))
        ),
        "xen_version": version,
        "virt_caps": caps,
        "accel": f"xen {version}" + (f" ({caps})" if caps else ""),
    }
