"""Bridged and routed NICs for real, inside a network namespace the test creates."""

from __future__ import annotations

import subprocess

from guest_console import GuestConsole, wait_ready
from kvmtest import make_spec, run

from gnt.runtime import NicSpec


def test_bridged_guests_ping_each_other_and_the_host(make_node, netns) -> None:
    node = make_node(netns)
    specs = [
        make_spec(
            nics=[NicSpec(f"n{i}", f"aa:00:00:00:20:0{i}", mode="bridged", link="br0")],
            args=f"gnt.ip=10.8.0.{10 + i}/24",
        )
        for i in (1, 2)
    ]
    for spec in specs:
        run(node.driver.start(spec))
    for spec in specs:
        run(wait_ready(node.driver.paths_for(spec.name).serial_log))
    ports = subprocess.run(["ip", "-n", netns, "link", "show", "master", "br0"], capture_output=True, text=True).stdout
    assert all(tap in ports for tap in node.driver.taps_for(specs[0]) + node.driver.taps_for(specs[1]))

    async def pings() -> None:
        async with GuestConsole(node.driver.paths_for(specs[0].name).serial) as console:
            await console.check("ping -c 1 -W 5 10.8.0.12", timeout=30)
            await console.check("ping -c 1 -W 5 10.8.0.1", timeout=30)

    run(pings())
    subprocess.run(["ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "5", "10.8.0.11"], check=True)
    for spec in specs:
        run(node.driver.stop(spec, 0, force=True))
    leftover = subprocess.run(["ip", "-n", netns, "link"], capture_output=True, text=True).stdout
    assert not any(tap in leftover for tap in node.driver.taps_for(specs[0]))


def test_routed_guest_reaches_host_through_proxy_arp(make_node, netns) -> None:
    """Routed mode: /32 route in table 100, proxy ARP on the tap; the host address sits on lo."""
    for argv in (
        ["addr", "add", "10.9.0.1/32", "dev", "lo"],
        ["rule", "add", "to", "10.9.0.0/24", "lookup", "100"],
    ):
        subprocess.run(["ip", "-n", netns, *argv], check=True)
    node = make_node(netns)
    nic = NicSpec("n0", "aa:00:00:00:30:01", mode="routed", link="100", ip="10.9.0.2")
    spec = make_spec(nics=[nic], args="gnt.ip=10.9.0.2/24")
    run(node.driver.start(spec))
    run(wait_ready(node.driver.paths_for(spec.name).serial_log))
    (tap,) = node.driver.taps_for(spec)
    routes = subprocess.run(["ip", "-n", netns, "route", "show", "table", "100"], capture_output=True, text=True)
    assert f"10.9.0.2 dev {tap}" in routes.stdout
    proxy = subprocess.run(
        ["ip", "netns", "exec", netns, "cat", f"/proc/sys/net/ipv4/conf/{tap}/proxy_arp"],
        capture_output=True,
        text=True,
    )
    assert proxy.stdout.strip() == "1"

    async def ping() -> None:
        async with GuestConsole(node.driver.paths_for(spec.name).serial) as console:
            await console.check("ping -c 1 -W 5 10.9.0.1", timeout=30)

    run(ping())
    subprocess.run(["ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "5", "10.9.0.2"], check=True)
