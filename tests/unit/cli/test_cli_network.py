"""gnt-network's options become Ganeti's opcodes; bad input is one error line and no job."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt.network import cli as network_cli
from tests.unit.cli.test_cli_bad_input import RecordingClient


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> RecordingClient:
    fake = RecordingClient()
    monkeypatch.setattr(network_cli, "client", lambda: fake)
    return fake


def _ops(master: RecordingClient, argv: list[str]) -> list[dict[str, Any]]:
    result = CliRunner().invoke(network_cli.main, argv)
    assert result.exit_code == 0, result.output
    return [op for ops in master.submitted for op in ops]


def test_add_maps_every_option(master: RecordingClient) -> None:
    (op,) = _ops(
        master,
        ["add", "--network=192.0.2.0/24", "--gateway=192.0.2.1", "--add-reserved-ips=192.0.2.9, 192.0.2.10",
         "-m", "aa:00:01", "--network6=2001:db8::/64", "--gateway6=2001:db8::1", "--no-conflicts-check",
         "--tags=a,b", "--submit", "net1"],
    )  # fmt: skip
    assert op["OP_ID"] == "OP_NETWORK_ADD" and op["network_name"] == "net1" and op["network"] == "192.0.2.0/24"
    assert op["add_reserved_ips"] == ["192.0.2.9", "192.0.2.10"] and op["mac_prefix"] == "aa:00:01"
    assert op["conflicts_check"] is False and op["tags"] == ["a", "b"] and op["gateway6"] == "2001:db8::1"


def test_connect_takes_nic_parameters_and_defaults(master: RecordingClient) -> None:
    ops = _ops(master, ["connect", "-N", "mode=routed,link=rt1,vlan=.100", "net1", "g1", "g2"])
    assert [(o["group_name"], o["network_mode"], o["network_link"], o["network_vlan"]) for o in ops] == [
        ("g1", "routed", "rt1", ".100"),
        ("g2", "routed", "rt1", ".100"),
    ]
    master.submitted.clear()
    (op,) = _ops(master, ["connect", "net1", "g1"])
    assert (op["network_mode"], op["network_link"], op["conflicts_check"]) == ("bridged", "gnt-br0", True)


def test_modify_splits_reserved_address_lists(master: RecordingClient) -> None:
    (op,) = _ops(master, ["modify", "--remove-reserved-ips=192.0.2.9,192.0.2.8", "-m", "none", "--submit", "net1"])
    assert op["OP_ID"] == "OP_NETWORK_SET_PARAMS" and op["remove_reserved_ips"] == ["192.0.2.9", "192.0.2.8"]
    assert op["mac_prefix"] == "none" and "gateway" not in op


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["modify", "net1"], "Please give at least one of the parameters."),
        (["connect", "-N", "speed=10", "net1", "g1"], "Unknown NIC parameter(s) in -N: speed"),
        (["add", "--network=192.0.2.0/33", "net1"], "is not an IPv4 network"),
        (["add", "--network=192.0.2.0/24", "--tags=bad tag", "net1"], "Tag contains invalid characters"),
        (["connect", "-N", "mode=tunnel", "net1", "g1"], "Invalid NIC mode"),
        (["modify", "--gateway=192.0.2.1", "--add-reserved-ips=192.0.2.2", "net1"], "gateway and reserved ips at once"),
    ],
)
def test_bad_input_is_refused_without_a_job(master: RecordingClient, argv: list[str], needle: str) -> None:
    result = CliRunner().invoke(network_cli.main, argv)
    assert result.exit_code != 0 and needle in result.output, result.output
    assert "Traceback" not in result.output and master.submitted == []
