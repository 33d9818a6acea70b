"""The floating master IP for real: `ip address add/del` and gratuitous ARP inside network namespaces.

Two namespaces joined by a veth pair stand for the master and a neighbour on its segment. The node
daemon's procedures run in the master's namespace (as gnt-noded would, reading only its own
ssconf); the neighbour checks what a client sees: the address answers, its ARP entry points at the
master's interface without the neighbour asking, and after deactivation the address is gone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and ip(8) (iproute2) to create network namespaces",
)

MASTER_IP = "10.77.0.100"
#: runs one master IP procedure through the node daemon's dispatcher, as gnt-noded would
DRIVER = """
import asyncio, json, sys
from agent.server import node_dispatcher
print(json.dumps(asyncio.run(node_dispatcher().answer(sys.argv[1], {}))))
"""


def _ip(*argv: str, ns: str | None = None, check: bool = True) -> str:
    cmd = ["ip", *(["-n", ns] if ns else []), *argv]
    return subprocess.run(cmd, check=check, capture_output=True, text=True).stdout


@pytest.fixture
def segment() -> Iterator[tuple[str, str]]:
    """Namespaces (master, neighbour) on one veth link, 10.77.0.1 and 10.77.0.2/24."""
    tag = f"{os.getpid()}"
    master, neighbour = f"gnt-mip-m{tag}", f"gnt-mip-n{tag}"
    _ip("netns", "add", master)
    _ip("netns", "add", neighbour)
    try:
        _ip("link", "add", "gm0", "type", "veth", "peer", "name", "gn0", "netns", neighbour, ns=master)
        for ns, dev, addr in ((master, "gm0", "10.77.0.1/24"), (neighbour, "gn0", "10.77.0.2/24")):
            _ip("link", "set", "lo", "up", ns=ns)
            _ip("address", "add", addr, "dev", dev, ns=ns)
            _ip("link", "set", dev, "up", ns=ns)
        # accept unsolicited ARP: the neighbour learns the master IP from the announcement alone
        subprocess.run(
            ["ip", "netns", "exec", neighbour, "sysctl", "-qw", "net.ipv4.conf.gn0.arp_accept=1"], check=True
        )
        yield master, neighbour
    finally:
        _ip("netns", "del", master, check=False)
        _ip("netns", "del", neighbour, check=False)


@pytest.fixture
def node_root(tmp_path: Path) -> Path:
    """node1's ssconf: it is the master, the cluster IP is MASTER_IP/24 on gm0."""
    root = tmp_path / "node1"
    ssconf = root / "var" / "lib" / "gnt"
    values = {"master_node": "node1", "cluster_ip": MASTER_IP, "master_netdev": "gm0", "master_netmask": "24"}
    ssconf.mkdir(parents=True)
    for key, value in values.items():
        (ssconf / f"ssconf_{key}").write_text(value)
    return root


def _call(ns: str, root: Path, procedure: str, path: str | None = None) -> dict:
    env = {**os.environ, "GNT_ROOTDIR": str(root), "GNT_HOSTNAME": "node1"}
    if path is not None:
        env["PATH"] = path
    out = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", DRIVER, procedure],
        check=True, capture_output=True, text=True, env=env, cwd=Path(__file__).parents[2],
    ).stdout  # fmt: skip
    return json.loads(out)


def _neighbour_entry(ns: str) -> str:
    return _ip("neigh", "show", MASTER_IP, "dev", "gn0", ns=ns).strip()


def _mac(ns: str, dev: str) -> str:
    return _ip("-o", "link", "show", dev, ns=ns).split("link/ether ")[1].split()[0]


def _pings(ns: str) -> bool:
    cmd = ["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", MASTER_IP]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def test_activate_adds_and_announces_deactivate_removes(segment: tuple[str, str], node_root: Path) -> None:
    master, neighbour = segment
    assert _call(master, node_root, "master_ip_activate") == {
        "ok": True,
        "result": {"address": MASTER_IP, "changed": True},
    }
    assert f"inet {MASTER_IP}/24" in _ip("-o", "address", "show", "dev", "gm0", ns=master)
    if shutil.which("arping"):  # arping announced it; without arping the raw-socket test below covers it
        assert _mac(master, "gm0") in _neighbour_entry(neighbour)
    assert _pings(neighbour)
    # idempotent: a second activation changes nothing and does not fail
    assert _call(master, node_root, "master_ip_activate") == {
        "ok": True,
        "result": {"address": MASTER_IP, "changed": False},
    }
    assert _ip("-o", "address", "show", "dev", "gm0", ns=master).count(MASTER_IP) == 1

    assert _call(master, node_root, "master_ip_deactivate")["result"]["changed"] is True
    assert MASTER_IP not in _ip("-o", "address", "show", "dev", "gm0", ns=master)
    _ip("neigh", "flush", "dev", "gn0", ns=neighbour)
    assert not _pings(neighbour)
    assert _call(master, node_root, "master_ip_deactivate")["result"]["changed"] is False


def test_without_arping_the_daemon_sends_the_announcement_itself(
    segment: tuple[str, str], node_root: Path, tmp_path: Path
) -> None:
    master, neighbour = segment
    bin_dir = tmp_path / "bin"  # a PATH with ip(8) but no arping
    bin_dir.mkdir()
    (bin_dir / "ip").symlink_to(shutil.which("ip"))
    _call(master, node_root, "master_ip_activate", path=str(bin_dir))
    assert _mac(master, "gm0") in _neighbour_entry(neighbour)


def test_a_node_that_is_not_master_leaves_the_interface_alone(segment: tuple[str, str], node_root: Path) -> None:
    master, _ = segment
    (node_root / "var" / "lib" / "gnt" / "ssconf_master_node").write_text("node2")
    answer = _call(master, node_root, "master_ip_activate")
    assert answer["ok"] is False and "node1 is not the master (node2)" in answer["error"]["message"]
    assert MASTER_IP not in _ip("-o", "address", "show", "dev", "gm0", ns=master)
