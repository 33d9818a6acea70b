"""The floating master IP on this node: `ip address add/del` plus gratuitous ARP, or the admin's script.

The address, netmask and interface come from this node's own ssconf (written by the master through
`ssconf_write`), never from the caller: a caller holding the cluster certificate can at most ask
this node to put the cluster's own address up or down, not to claim an arbitrary one. A node that
ssconf does not name as master refuses to put it up.

Facts, then actions: `planned_commands` is a pure function of the setting and of whether the
address is already on the interface (so both calls are idempotent); `run_plan` executes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
import socket
import struct
from dataclasses import dataclass
from typing import Any

from agent.handlers import handles
from gnt import paths, ssconf
from gnt.errors import OpExecError
from gnt.rpc import procedures as proc

#: ssconf keys the master writes (gnt.jobs.services.ssconf_values)
KEY_IP, KEY_NETDEV, KEY_NETMASK, KEY_EXTERNAL = "cluster_ip", "master_netdev", "master_netmask", "master_ip_script"
COMMAND_TIMEOUT = 30.0
ARP_COUNT = 3


@dataclass(frozen=True)
class MasterIpSetting:
    """The cluster's floating address as this node knows it; `address` "" means none is configured."""

    address: str = ""
    netmask: int = 32
    netdev: str = ""
    external_script: bool = False

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.address).version

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.netmask}"


def read_setting() -> MasterIpSetting:
    """This node's own copy of the setting (ssconf); a malformed one is treated as none configured."""
    address, netdev = ssconf.read(KEY_IP), ssconf.read(KEY_NETDEV)
    try:
        ipaddress.ip_address(address)
        netmask = int(ssconf.read(KEY_NETMASK) or "32")
    except ValueError:
        return MasterIpSetting()
    if not netdev:
        return MasterIpSetting()
    return MasterIpSetting(address, netmask, netdev, ssconf.read(KEY_EXTERNAL) == "1")


def script_env(setting: MasterIpSetting) -> dict[str, str]:
    """The environment of Ganeti's master-ip-setup interface."""
    return {
        "MASTER_NETDEV": setting.netdev,
        "MASTER_IP": setting.address,
        "MASTER_NETMASK": str(setting.netmask),
        "CLUSTER_IP_VERSION": str(setting.version),
    }


def planned_commands(setting: MasterIpSetting, present: bool, up: bool, have_arping: bool) -> list[list[str]]:
    """The argv to run to bring the address up (`up`) or down, given whether it is there now.

    Gratuitous ARP (IPv4 only) tells the segment's switches and neighbours that the address moved;
    without `arping` the daemon sends the frames itself (`send_gratuitous_arp`), which is not a command.
    """
    if not setting.address:
        return []
    if setting.external_script:
        return [[paths.master_ip_script(), "start" if up else "stop"]]
    family = "-4" if setting.version == 4 else "-6"
    if not up:
        return [["ip", family, "address", "del", setting.cidr, "dev", setting.netdev]] if present else []
    commands = [] if present else [["ip", family, "address", "add", setting.cidr, "dev", setting.netdev]]
    if setting.version == 4 and have_arping:
        commands.append(["arping", "-q", "-U", "-c", str(ARP_COUNT), "-I", setting.netdev, "-s", setting.address,
                         setting.address])  # fmt: skip
    return commands


def address_present(ip_output: str, address: str) -> bool:
    """Whether `ip -o address show dev X` output lists `address` (any prefix length)."""
    for line in ip_output.splitlines():
        fields = line.split()
        for i, word in enumerate(fields[:-1]):
            if word in ("inet", "inet6") and fields[i + 1].split("/")[0] == address:
                return True
    return False


async def _run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        child = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    except OSError as err:
        return 127, f"cannot run {argv[0]}: {err.strerror or err}"
    try:
        out, _ = await asyncio.wait_for(child.communicate(), COMMAND_TIMEOUT)
    except TimeoutError:
        child.kill()
        await child.wait()
        return -1, f"{argv[0]} did not finish within {COMMAND_TIMEOUT:g}s"
    return child.returncode or 0, out.decode(errors="replace").strip()


async def is_present(setting: MasterIpSetting) -> bool:
    code, out = await _run(["ip", "-o", "address", "show", "dev", setting.netdev])
    if code != 0:
        raise OpExecError(f"master netdev {setting.netdev}: {out.splitlines()[-1] if out else 'not found'}")
    return address_present(out, setting.address)


def send_gratuitous_arp(netdev: str, address: str, count: int = ARP_COUNT) -> None:
    """Broadcast unsolicited ARP requests for `address` on `netdev` (for hosts without `arping`)."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((netdev, 0))
        mac = sock.getsockname()[4][:6].ljust(6, b"\0")
        ip = socket.inet_aton(address)
        broadcast = b"\xff" * 6
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, b"\0" * 6, ip)
        frame = broadcast + mac + struct.pack("!H", 0x0806) + arp
        for _ in range(count):
            sock.send(frame)


async def run_plan(setting: MasterIpSetting, up: bool) -> dict[str, Any]:
    """Bring the address up or down here; {"address", "changed"}. A failing step raises OpExecError."""
    if not setting.address:
        return {"address": "", "changed": False}
    if setting.external_script:
        present = False  # the script owns the state; Ganeti's interface asks it to be idempotent itself
    else:
        present = await is_present(setting)
    have_arping = shutil.which("arping") is not None
    commands = planned_commands(setting, present, up, have_arping)
    env = script_env(setting) if setting.external_script else None
    for argv in commands:
        code, out = await _run(argv, env)
        if code != 0 and argv[0] != "arping":  # a lost announcement is not worth failing the move
            last = out.splitlines()[-1] if out else f"exit status {code}"
            raise OpExecError(f"{' '.join(argv[:4])} on {paths.hostname()} failed: {last}")
    if up and not setting.external_script and setting.version == 4 and not have_arping:
        with contextlib.suppress(OSError):  # as with arping: the address is up, only the announcement was lost
            await asyncio.to_thread(send_gratuitous_arp, setting.netdev, setting.address)
    return {"address": setting.address, "changed": any(argv[0] != "arping" for argv in commands)}


@handles(proc.MASTER_IP_ACTIVATE)
async def master_ip_activate(args: proc.NoArgs) -> dict[str, Any]:
    """Put the cluster's master IP up here; only the node ssconf names as master may."""
    master = ssconf.read("master_node")
    if master != paths.hostname():
        raise OpExecError(f"{paths.hostname()} is not the master ({master or 'none known'}); not taking the master IP")
    return await _with_hooks(read_setting(), up=True)


@handles(proc.MASTER_IP_DEACTIVATE)
async def master_ip_deactivate(args: proc.NoArgs) -> dict[str, Any]:
    """Take the cluster's master IP down here (always allowed: dropping it is what a demoted master must do)."""
    return await _with_hooks(read_setting(), up=False)


async def _with_hooks(setting: MasterIpSetting, up: bool) -> dict[str, Any]:
    """`run_plan` between this node's own master-ip-turnup (or -turndown) hooks, as Ganeti's
    RunLocalHooks: a failed pre script leaves the address as it was."""
    from agent import hooks

    if not setting.address:
        return await run_plan(setting, up)
    hpath, op_code = (
        ("master-ip-turnup", hooks.OP_MASTER_TURNUP) if up else ("master-ip-turndown", hooks.OP_MASTER_TURNDOWN)
    )
    env = {"MASTER_NETDEV": setting.netdev, "MASTER_IP": setting.address, "MASTER_NETMASK": setting.netmask,
           "CLUSTER_IP_VERSION": setting.version}  # fmt: skip
    await hooks.run_local_hooks(hpath, op_code, "pre", env)
    result = await run_plan(setting, up)
    await hooks.run_local_hooks(hpath, op_code, "post", env)
    return result
