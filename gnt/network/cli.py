"""gnt-network: IP networks and their address pools, with Ganeti's commands, options and output."""

from __future__ import annotations

import sys
import textwrap
from typing import Any

import click

from gnt.cli.common import (
    CONTEXT,
    add_list_fields_command,
    client,
    common_job_options,
    handle_errors,
    job_fields,
    parse_keyval,
    resolve_fields,
)
from gnt.cli.fields import field_option
from gnt.cli.jobs import run_ops
from gnt.cli.output import print_query
from gnt.errors import ParameterError
from gnt.tags import syntax as tag_syntax
from gnt.tags.cli import add_tag_commands

#: Ganeti's `gnt-network list` columns without -o
DEFAULT_FIELDS = ["name", "network", "gateway", "mac_prefix", "group_list", "tags"]
#: -N keys of `connect`, and their defaults (Ganeti's NIC defaults: bridged on the default bridge)
_NIC_KEYS = ("mode", "link", "vlan")


@click.group(context_settings=CONTEXT)
def main() -> None:
    """IP network and address pool administration.

    \b
    Example:
      gnt-network add --network=192.0.2.0/24 --gateway=192.0.2.1 net1
      gnt-network connect -N mode=bridged,link=br0 net1 default
      gnt-instance add ... --net 0:network=net1,ip=pool inst1
    """


add_tag_commands(main, tag_syntax.KIND_NETWORK, "gnt-network", "net1")
add_list_fields_command(main, "network", "gnt-network")


def _ips(text: str | None) -> list[str] | None:
    """A comma-separated address list (Ganeti's --add-reserved-ips); None when the option is absent."""
    if text is None:
        return None
    return [ip.strip() for ip in text.split(",") if ip.strip()]


def _submit(op: dict[str, Any], submit: bool) -> Any:
    return run_ops(client(), [op], submit)  # --print-jobid (common_job_options) is run_ops' to print


@main.command(context_settings=CONTEXT)
@click.argument("network_name")
@click.option("--network", "subnet", required=True, help="IPv4 subnet in CIDR form (a /16 to a /30)")
@field_option("OP_NETWORK_ADD", "gateway", "--gateway")
@click.option("--add-reserved-ips", default=None, help="Comma-separated IPs reserved outside gnt's control")
@click.option("-m", "--mac-prefix", default=None, help="MAC prefix of the network's NICs (aa:00:00)")
@field_option("OP_NETWORK_ADD", "network6", "--network6")
@field_option("OP_NETWORK_ADD", "gateway6", "--gateway6")
@click.option("--no-conflicts-check", is_flag=True, help="Do not reserve the nodes' addresses in the network")
@click.option("--tags", default=None, help="Comma-separated tags")
@common_job_options
@handle_errors
def add(network_name: str, subnet: str, submit: bool, dry_run: bool, priority: str, **o: Any) -> None:
    """Add a network (an IPv4 address pool).

    \b
    Example:
      gnt-network add --network=192.0.2.0/24 --gateway=192.0.2.1 --add-reserved-ips=192.0.2.10 net1
    """
    tags = [t for t in (o["tags"] or "").split(",") if t]
    tag_syntax.validate_tags(tags)
    op = {
        "OP_ID": "OP_NETWORK_ADD",
        "network_name": network_name,
        "network": subnet,
        "gateway": o["gateway"],
        "network6": o["network6"],
        "gateway6": o["gateway6"],
        "mac_prefix": o["mac_prefix"],
        "add_reserved_ips": _ips(o["add_reserved_ips"]),
        "conflicts_check": not o["no_conflicts_check"],
        "tags": tags,
        **job_fields(dry_run, priority),
    }
    _submit(op, submit)


@main.command(context_settings=CONTEXT)
@click.argument("network_name")
@click.option("-f", "--force", is_flag=True, help="Accepted as in Ganeti")
@common_job_options
@handle_errors
def remove(network_name: str, force: bool, submit: bool, dry_run: bool, priority: str) -> None:
    """Remove a network (connected to no node group, used by no instance).

    \b
    Example:
      gnt-network remove net1
    """
    op = {"OP_ID": "OP_NETWORK_REMOVE", "network_name": network_name, "force": force, **job_fields(dry_run, priority)}
    _submit(op, submit)


@main.command(context_settings=CONTEXT)
@click.argument("network_name")
@click.option("--add-reserved-ips", default=None, help="Comma-separated IPs to reserve")
@click.option("--remove-reserved-ips", default=None, help="Comma-separated reserved IPs to release")
@field_option("OP_NETWORK_SET_PARAMS", "gateway", "--gateway")
@field_option("OP_NETWORK_SET_PARAMS", "mac_prefix", "-m", "--mac-prefix")
@field_option("OP_NETWORK_SET_PARAMS", "network6", "--network6")
@field_option("OP_NETWORK_SET_PARAMS", "gateway6", "--gateway6")
@common_job_options
@handle_errors
def modify(network_name: str, submit: bool, dry_run: bool, priority: str, **o: Any) -> None:
    """Change a network's gateway, MAC prefix, IPv6 settings or reserved addresses.

    \b
    Example:
      gnt-network modify --add-reserved-ips=192.0.2.20,192.0.2.21 net1
      gnt-network modify --gateway=none net1
    """
    fields = {k: o[k] for k in ("gateway", "mac_prefix", "network6", "gateway6") if o[k] is not None}
    for key in ("add_reserved_ips", "remove_reserved_ips"):
        if o[key] is not None:
            fields[key] = _ips(o[key])
    if not fields:
        raise ParameterError("Please give at least one of the parameters.")
    op = {"OP_ID": "OP_NETWORK_SET_PARAMS", "network_name": network_name, **fields, **job_fields(dry_run, priority)}
    _submit(op, submit)


def _groups(names: tuple[str, ...]) -> list[str]:
    """The named groups, or every group (Ganeti's default for connect and disconnect)."""
    if names:
        return list(names)
    return sorted(g["name"] for g in client().get("/2/groups"))


@main.command(context_settings=CONTEXT)
@click.argument("network_name")
@click.argument("groups", nargs=-1)
@click.option("-N", "--nic-parameters", default=None, help="mode=bridged|routed|openvswitch,link=LINK,vlan=VLAN")
@click.option("--no-conflicts-check", is_flag=True, help="Connect even if instance NICs use the network's addresses")
@click.option("--priority", type=click.Choice(["low", "normal", "high"]), default="normal", help="Job priority")
@handle_errors
def connect(
    network_name: str, groups: tuple[str, ...], nic_parameters: str | None, no_conflicts_check: bool, priority: str
) -> None:
    """Connect a network to node groups (all groups when none is named).

    \b
    Example:
      gnt-network connect -N mode=bridged,link=br0 net1 default
    """
    params = parse_keyval(nic_parameters, "-N") if nic_parameters else {}
    unknown = sorted(set(params) - set(_NIC_KEYS))
    if unknown:
        raise ParameterError(f"Unknown NIC parameter(s) in -N: {', '.join(unknown)} (expected mode, link, vlan)")
    nic = {"mode": "bridged", "link": "gnt-br0", "vlan": "", **{k: str(v) for k, v in params.items()}}
    for group in _groups(groups):
        op = {
            "OP_ID": "OP_NETWORK_CONNECT",
            "network_name": network_name,
            "group_name": group,
            "network_mode": nic["mode"],
            "network_link": nic["link"],
            "network_vlan": nic["vlan"],
            "conflicts_check": not no_conflicts_check,
            **job_fields(False, priority),
        }
        run_ops(client(), [op])


@main.command(context_settings=CONTEXT)
@click.argument("network_name")
@click.argument("groups", nargs=-1)
@click.option("--priority", type=click.Choice(["low", "normal", "high"]), default="normal", help="Job priority")
@handle_errors
def disconnect(network_name: str, groups: tuple[str, ...], priority: str) -> None:
    """Disconnect a network from node groups (all groups when none is named).

    \b
    Example:
      gnt-network disconnect net1 default
    """
    for group in _groups(groups):
        op = {
            "OP_ID": "OP_NETWORK_DISCONNECT",
            "network_name": network_name,
            "group_name": group,
            **job_fields(False, priority),
        }
        run_ops(client(), [op])


def _group_cell(value: Any) -> str:
    return ", ".join(f"{name} ({mode}, {link}, {vlan})" for name, mode, link, vlan in value)


@main.command("list", context_settings=CONTEXT)
@click.argument("networks", nargs=-1)
@click.option("-o", "--output", default=None, help="Comma-separated fields to show; '+f1,f2' adds to the defaults")
@click.option("--no-headers", is_flag=True, help="Do not print the header line")
@click.option("--separator", default=None, help="Separator between fields (no alignment)")
@click.option("-v", "--verbose", is_flag=True, help="Accepted as in Ganeti")
@handle_errors
def list_(
    networks: tuple[str, ...], output: str | None, no_headers: bool, separator: str | None, verbose: bool
) -> None:
    """List networks (default fields: name network gateway mac_prefix group_list tags).

    \b
    Example:
      gnt-network list -o name,free_count,reserved_count
    """
    fields = resolve_fields(output, DEFAULT_FIELDS)
    result = client().get("/2/query/network", fields=",".join(fields), names=",".join(networks) or None)
    for index, name in enumerate(fields):
        if name == "group_list":
            for row in result["data"]:
                if row[index][0] == 0:
                    row[index][1] = _group_cell(row[index][1])
    print_query(result, no_headers, separator, None)


_INFO_FIELDS = (
    "name,network,gateway,network6,gateway6,mac_prefix,free_count,reserved_count,map,group_list,inst_list,"
    "external_reservations,serial_no,uuid"
)


def _info_lines(row: list[Any], nics: dict[str, list[str]]) -> list[str]:
    name, net, gw, net6, gw6, prefix, free, reserved, mapping, groups, insts, ext, serial, uuid = row
    size = free + reserved
    lines = [
        f"Network name: {name}",
        f"UUID: {uuid}",
        f"Serial number: {serial}",
        f"  Subnet: {net}",
        f"  Gateway: {gw}",
        f"  IPv6 Subnet: {net6}",
        f"  IPv6 Gateway: {gw6}",
        f"  Mac Prefix: {prefix}",
        f"  Size: {size}",
        f"  Free: {free} ({100 * free / size:.2f}%)",
        "  Usage map:",
    ]
    for start in range(0, len(mapping), 64):
        lines.append(f"     {str(start).rjust(4)} {mapping[start : start + 64].ljust(64)} {start + 63}")
    lines.append("         (X) used    (.) free")
    if ext:
        lines.append("  externally reserved IPs:")
        lines += [f"    {line}" for line in textwrap.wrap(ext, width=64)]
    if groups:
        lines.append("  connected to node groups:")
        lines += [f"    {g} (mode:{m} link:{lk} vlan:{v})" for g, m, lk, v in groups]
    else:
        lines.append("  not connected to any node group")
    if insts:
        lines.append(f"  used by {len(insts)} instances:")
        lines += [f"    {inst}: {', '.join(nics.get(inst, []))}" for inst in insts]
    else:
        lines.append("  not used by any instances")
    return lines


@main.command(context_settings=CONTEXT)
@click.argument("networks", nargs=-1)
@handle_errors
def info(networks: tuple[str, ...]) -> None:
    """Show network details: the pool's usage map, reservations, groups and which instance holds which address.

    \b
    Example:
      gnt-network info net1
    """
    cl = client()
    data = cl.get("/2/query/network", fields=_INFO_FIELDS, names=",".join(networks) or None)
    rows = [[cell[1] for cell in row] for row in data["data"]]
    users = sorted({inst for row in rows for inst in row[10]})
    leases: dict[str, dict[str, list[str]]] = {}
    if users:
        insts = cl.get("/2/query/instance", fields="name,nic.ips,nic.networks", names=",".join(users))
        for (_, iname), (_, ips), (_, nets) in insts["data"]:
            for index, (ip, net) in enumerate(zip(ips, nets, strict=True)):
                leases.setdefault(net, {}).setdefault(iname, []).append(f"{index}:{ip}")
    out = []
    for row in rows:
        out += _info_lines(row, leases.get(row[13], {}))
    if out:
        print("\n".join(out))
    sys.stdout.flush()
