"""The node side of the floating master IP: the planned commands, the ssconf it trusts, the refusals."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from agent import master_ip
from agent.master_ip import MasterIpSetting, planned_commands
from gnt import paths
from gnt.errors import OpExecError
from gnt.rpc import procedures as proc

V4 = MasterIpSetting("192.0.2.10", 24, "eth0")


def test_bringing_up_an_absent_address_adds_it_then_announces_it() -> None:
    assert planned_commands(V4, present=False, up=True, have_arping=True) == [
        ["ip", "-4", "address", "add", "192.0.2.10/24", "dev", "eth0"],
        ["arping", "-q", "-U", "-c", "3", "-I", "eth0", "-s", "192.0.2.10", "192.0.2.10"],
    ]


def test_an_address_already_up_is_only_announced_again() -> None:
    assert [argv[0] for argv in planned_commands(V4, present=True, up=True, have_arping=True)] == ["arping"]
    assert planned_commands(V4, present=True, up=True, have_arping=False) == []


def test_taking_down_runs_del_only_when_the_address_is_there() -> None:
    assert planned_commands(V4, present=True, up=False, have_arping=True) == [
        ["ip", "-4", "address", "del", "192.0.2.10/24", "dev", "eth0"]
    ]
    assert planned_commands(V4, present=False, up=False, have_arping=True) == []


def test_ipv6_gets_no_arp() -> None:
    v6 = MasterIpSetting("2001:db8::10", 64, "eth0")
    assert planned_commands(v6, present=False, up=True, have_arping=True) == [
        ["ip", "-6", "address", "add", "2001:db8::10/64", "dev", "eth0"]
    ]


def test_the_external_script_replaces_ip_and_arping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    external = MasterIpSetting("192.0.2.10", 24, "eth0", external_script=True)
    assert planned_commands(external, present=False, up=True, have_arping=True) == [[paths.master_ip_script(), "start"]]
    assert planned_commands(external, present=True, up=False, have_arping=True) == [[paths.master_ip_script(), "stop"]]
    assert planned_commands(MasterIpSetting(), present=False, up=True, have_arping=True) == []


def test_address_present_matches_the_whole_address_only() -> None:
    out = (
        "2: eth0    inet 192.0.2.1/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n"
        "2: eth0    inet 192.0.2.100/32 scope global eth0\\       valid_lft forever\n"
        "2: eth0    inet6 2001:db8::10/64 scope global \\       valid_lft forever\n"
    )
    assert master_ip.address_present(out, "192.0.2.100")
    assert master_ip.address_present(out, "2001:db8::10")
    assert not master_ip.address_present(out, "192.0.2.10")


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A node root (node1) whose ssconf names node1 master with the cluster IP on eth0."""
    root = tmp_path / "node1"
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    write_ssconf({"master_node": "node1", "cluster_ip": "192.0.2.10", "master_netdev": "eth0", "master_netmask": "24"})
    return root


def write_ssconf(values: dict[str, str]) -> None:
    directory = paths.ensure_dir(paths.ssconf_dir())
    for key, value in values.items():
        Path(directory, f"ssconf_{key}").write_text(value)


def test_the_setting_comes_from_this_nodes_ssconf(node: Path) -> None:
    assert master_ip.read_setting() == MasterIpSetting("192.0.2.10", 24, "eth0", False)
    write_ssconf({"master_ip_script": "1"})
    assert master_ip.read_setting().external_script


@pytest.mark.parametrize(
    "values",
    [{"cluster_ip": ""}, {"cluster_ip": "not-an-ip"}, {"master_netdev": ""}, {"master_netmask": "x"}],
)
def test_a_missing_or_malformed_setting_means_no_master_ip(node: Path, values: dict[str, str]) -> None:
    write_ssconf(values)
    assert master_ip.read_setting() == MasterIpSetting()
    assert asyncio.run(master_ip.master_ip_activate(proc.NoArgs())) == {"address": "", "changed": False}


def test_a_node_that_is_not_master_refuses_to_take_the_ip(node: Path) -> None:
    write_ssconf({"master_node": "node2"})
    with pytest.raises(OpExecError, match="node1 is not the master \\(node2\\)"):
        asyncio.run(master_ip.master_ip_activate(proc.NoArgs()))


def test_the_procedures_take_no_address_from_the_caller() -> None:
    """The security rule: nothing in the call can name another address or interface."""
    assert proc.MASTER_IP_ACTIVATE.args is proc.NoArgs and proc.MASTER_IP_DEACTIVATE.args is proc.NoArgs


def _script(node: Path, body: str) -> Path:
    script = Path(paths.master_ip_script())
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_the_external_script_gets_ganetis_environment_and_verb(node: Path) -> None:
    write_ssconf({"master_ip_script": "1"})
    log = node / "calls"
    _script(node, f'echo "$1 $MASTER_NETDEV $MASTER_IP $MASTER_NETMASK $CLUSTER_IP_VERSION" >> {log}\n')
    assert asyncio.run(master_ip.master_ip_activate(proc.NoArgs())) == {"address": "192.0.2.10", "changed": True}
    asyncio.run(master_ip.master_ip_deactivate(proc.NoArgs()))
    assert log.read_text().splitlines() == ["start eth0 192.0.2.10 24 4", "stop eth0 192.0.2.10 24 4"]


def test_a_failing_external_script_is_an_error_naming_its_last_line(node: Path) -> None:
    write_ssconf({"master_ip_script": "1"})
    _script(node, "echo working\necho 'no such device' >&2\nexit 3\n")
    with pytest.raises(OpExecError, match="no such device"):
        asyncio.run(master_ip.master_ip_activate(proc.NoArgs()))


def test_a_missing_netdev_is_an_error(node: Path) -> None:
    if not any(os.access(os.path.join(d, "ip"), os.X_OK) for d in os.environ.get("PATH", "").split(":")):
        pytest.skip("needs ip(8) from iproute2")
    write_ssconf({"master_netdev": "gntnosuch0"})
    with pytest.raises(OpExecError, match="master netdev gntnosuch0"):
        asyncio.run(master_ip.master_ip_activate(proc.NoArgs()))
