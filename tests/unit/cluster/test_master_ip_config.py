"""What `gnt-cluster init` records for the floating master IP, and the refusals of bad input."""

from __future__ import annotations

import pytest

from gnt.cluster import master_ip_config
from gnt.cluster.master_ip_config import MasterIp, plan_at_init
from gnt.errors import OpPrereqError
from gnt.objects import Cluster

OWN = "192.0.2.1"


@pytest.fixture(autouse=True)
def cluster_name_resolves(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {"cluster.example.com": "192.0.2.100", "node1.example.com": OWN, "v6.example.com": "2001:db8::100"}

    def resolve(name: str) -> str:
        if name not in names:
            raise OpPrereqError(f"Cannot resolve node name '{name}'", "unknown_entity")
        return names[name]

    monkeypatch.setattr(master_ip_config.netutil, "resolve", resolve)


def test_without_a_netdev_the_cluster_has_no_master_ip() -> None:
    assert plan_at_init("cluster.example.com", OWN, {"master_netdev": None}) == MasterIp()


def test_with_a_netdev_the_cluster_name_is_the_master_ip() -> None:
    assert plan_at_init("cluster.example.com", OWN, {"master_netdev": "lo", "master_netmask": 24}) == MasterIp(
        "192.0.2.100", 24, "lo", False
    )
    assert plan_at_init("cluster.example.com", OWN, {"master_netdev": "lo"}).netmask == 32
    assert plan_at_init("v6.example.com", OWN, {"master_netdev": "lo"}).netmask == 128


def test_an_external_script_may_name_a_netdev_this_node_does_not_have_yet() -> None:
    plan = plan_at_init("cluster.example.com", OWN, {"master_netdev": "br-later", "use_external_mip_script": True})
    assert plan.external_script and plan.netdev == "br-later"


@pytest.mark.parametrize(
    ("name", "opts", "message"),
    [
        ("cluster.example.com", {"master_netmask": 24}, "need --master-netdev"),
        ("cluster.example.com", {"use_external_mip_script": True}, "need --master-netdev"),
        ("cluster.example.com", {"master_netdev": "eth0;reboot"}, "Invalid master netdev 'eth0;reboot'"),
        ("cluster.example.com", {"master_netdev": "gntnosuch0"}, "Master netdev gntnosuch0 does not exist"),
        ("cluster.example.com", {"master_netdev": "lo", "master_netmask": 33}, "Invalid master netmask 33"),
        ("cluster.example.com", {"master_netdev": "lo", "master_netmask": 0}, "Invalid master netmask 0"),
        ("node1.example.com", {"master_netdev": "lo"}, "resolves to this node's own address"),
        ("nowhere.example.com", {"master_netdev": "lo"}, "Cannot resolve"),
    ],
)
def test_bad_master_ip_settings_are_refused(name: str, opts: dict, message: str) -> None:
    with pytest.raises(OpPrereqError, match=message):
        plan_at_init(name, OWN, opts)


def test_ssconf_names_the_netdev_only_when_there_is_a_master_ip() -> None:
    assert master_ip_config.ssconf_values(Cluster(master_netdev="lo"))["master_netdev"] == ""
    values = master_ip_config.ssconf_values(
        Cluster(master_ip="192.0.2.100", master_netdev="eth0", master_netmask=24, use_external_mip_script=True)
    )
    assert values == {
        "cluster_ip": "192.0.2.100",
        "master_netdev": "eth0",
        "master_netmask": "24",
        "master_ip_script": "1",
    }
